//! `mvgen stage`'s refusals that need no display: a camera output where there is no
//! v4l2loopback device, or where the path is not a video device.

mod common;
use common::fails_saying;

#[test]
fn a_camera_output_without_the_module_says_why_in_one_line() {
    fails_saying(
        &["stage", "--v4l2", "/dev/video-mvgen-none"],
        "does not exist: load the v4l2loopback module first",
    );
    fails_saying(
        &["stage", "--v4l2", "/dev/null"],
        "/dev/null is not a video device",
    );
}
