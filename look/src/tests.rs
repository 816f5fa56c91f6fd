use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder under the temporary folder.
fn scratch(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mvgen-look-test-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn description(name: &str) -> String {
    serde_json::to_string_pretty(&Description {
        author: "a test".into(),
        licence: "CC0-1.0".into(),
        reactivity: vec![Reaction {
            song: "song".into(),
            numbers: Reactivity {
                motion: 3.0,
                variety: 30.0,
                coupling: 0.5,
                frames: 300,
            },
        }],
        ..Description::named(name)
    })
    .unwrap()
}

/// A look folder `slug` in `folder` named `name`, with the default look's networks.
fn make_look(folder: &Path, slug: &str, name: &str, enhancer: bool) -> PathBuf {
    let dir = folder.join(slug);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(DESCRIPTION), description(name)).unwrap();
    std::fs::write(dir.join(GENERATOR), mvgen_default_model::ONNX).unwrap();
    if enhancer {
        std::fs::write(dir.join(ENHANCER), mvgen_default_model::ENHANCER).unwrap();
    }
    std::fs::write(dir.join(THUMBNAIL), mvgen_default_model::THUMBNAIL).unwrap();
    dir
}

/// A generator that is not the default's: its name in the metadata changed.
fn other_generator() -> Vec<u8> {
    let mut bytes = mvgen_default_model::ONNX.to_vec();
    let name = b"mvgen default";
    let at = bytes
        .windows(name.len())
        .rposition(|w| w == name)
        .expect("the model's name in its metadata");
    bytes[at] = b'M';
    bytes
}

fn scan(folder: &Path, origin: Origin) -> Catalogue {
    let mut c = Catalogue::default();
    c.scan(&[(origin, folder.to_owned())]);
    c
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn a_look_folder_is_found_with_its_description_files_and_hash() {
    let folder = scratch("found");
    let dir = make_look(&folder, "ember", "Ember", true);
    let c = scan(&folder, Origin::User);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let look = c.find("  ember ").unwrap();
    assert_eq!(look.name(), "Ember");
    assert_eq!(look.origin, Origin::User);
    assert_eq!(look.description.author, "a test");
    assert_eq!(look.description.reactivity[0].numbers.variety, 30.0);
    assert_eq!(look.generator, dir.join(GENERATOR));
    assert_eq!(look.enhancer.as_deref(), Some(dir.join(ENHANCER).as_path()));
    assert_eq!(
        look.thumbnail.as_deref(),
        Some(dir.join(THUMBNAIL).as_path())
    );
    assert_eq!(look.sheet, None);
    assert_eq!(look.sha256, sha256(mvgen_default_model::ONNX));
    assert!(look.notes.is_empty(), "{:?}", look.notes);
    assert_eq!(enhancer_for(&look.generator), look.enhancer);
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn a_look_without_an_enhancer_is_a_look_that_says_so() {
    let folder = scratch("no-enhancer");
    make_look(&folder, "plain", "Plain", false);
    let c = scan(&folder, Origin::User);
    let look = c.find("Plain").unwrap();
    assert_eq!(look.enhancer, None);
    assert_eq!(enhancer_for(&look.generator), None);
    assert_eq!(look.notes.len(), 1);
    assert!(look.notes[0].contains("no enhancer") && look.notes[0].contains("classical filter"));
    // An enhancer of the wrong contract is refused, and the look still works without it.
    std::fs::write(
        folder.join("plain").join(ENHANCER),
        mvgen_default_model::ONNX,
    )
    .unwrap();
    let c = scan(&folder, Origin::User);
    let look = c.find("Plain").unwrap();
    assert_eq!(look.enhancer, None);
    assert!(look.notes[0].contains("refused"), "{:?}", look.notes);
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn bad_look_folders_each_give_one_line_and_lose_nothing() {
    let folder = scratch("bad");
    make_look(&folder, "good", "Good", true);
    let corrupt = make_look(&folder, "corrupt", "Corrupt", true);
    std::fs::write(corrupt.join(DESCRIPTION), b"{\"format\": 1, \"name\": ").unwrap();
    let wrong = make_look(&folder, "wrong", "Wrong", true);
    std::fs::write(wrong.join(GENERATOR), mvgen_default_model::ENHANCER).unwrap();
    let newer = make_look(&folder, "newer", "Newer", true);
    std::fs::write(
        newer.join(DESCRIPTION),
        description("Newer").replace("\"format\": 1", "\"format\": 99"),
    )
    .unwrap();
    let unnamed = make_look(&folder, "unnamed", "  ", true);
    let bare_folder = folder.join("no-description");
    std::fs::create_dir_all(&bare_folder).unwrap();
    std::fs::write(folder.join("junk.onnx"), b"not a model").unwrap();

    let c = scan(&folder, Origin::User);
    assert_eq!(c.looks.iter().map(Look::name).collect::<Vec<_>>(), ["Good"]);
    let reason = |dir: &Path| {
        let p = c
            .problems
            .iter()
            .find(|p| p.path == dir)
            .unwrap_or_else(|| panic!("{dir:?}: {:?}", c.problems));
        let line = p.to_string();
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        p.reason.clone()
    };
    assert!(reason(&corrupt).starts_with("look.json is not a look description"));
    let wrong_reason = reason(&wrong);
    assert!(
        wrong_reason.starts_with("generator.onnx: "),
        "{wrong_reason}"
    );
    assert!(reason(&newer).contains("newer mvgen"));
    assert!(reason(&unnamed).contains("no name"));
    assert!(reason(&bare_folder).starts_with("no look.json"));
    assert!(reason(&folder.join("junk.onnx")).contains("not an ONNX model"));
    assert_eq!(c.problems.len(), 6, "{:?}", c.problems);
    // The message for a look that is there but broken names the problem.
    let why = c.find("corrupt").unwrap_err();
    assert!(why.contains("look.json is not a look description"), "{why}");
    // Nothing was touched.
    for dir in [&corrupt, &wrong, &newer, &unnamed] {
        assert!(dir.join(GENERATOR).is_file() && dir.join(DESCRIPTION).is_file());
    }
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn two_looks_with_one_name_keep_the_first_and_name_it_for_the_second() {
    let (shipped, user) = (scratch("shipped"), scratch("user"));
    let first = make_look(&shipped, "ember", "Ember", true);
    let second = make_look(&user, "my-ember", "EMBER", true);
    std::fs::write(second.join(GENERATOR), other_generator()).unwrap();
    // The same look again (a bundle's copy of it) is not a second look.
    let copy = make_look(&user, "ember-copy", "Ember", true);
    let mut c = Catalogue::default();
    c.scan(&[
        (Origin::Shipped, shipped.clone()),
        (Origin::User, user.clone()),
    ]);
    assert_eq!(c.looks.len(), 1);
    assert_eq!(c.looks[0].location.as_deref(), Some(first.as_path()));
    assert_eq!(c.problems.len(), 1);
    let p = &c.problems[0];
    assert_eq!(p.path, second);
    assert!(
        p.reason.contains("already named \"Ember\"")
            && p.reason.contains(&first.display().to_string())
    );
    assert!(second.join(GENERATOR).is_file() && copy.join(GENERATOR).is_file());
    let _ = std::fs::remove_dir_all(shipped);
    let _ = std::fs::remove_dir_all(user);
}

#[test]
fn a_bare_generator_is_a_look_named_for_its_file() {
    let folder = scratch("bare");
    std::fs::write(folder.join("neon.onnx"), mvgen_default_model::ONNX).unwrap();
    std::fs::write(
        folder.join("neon.enhancer.onnx"),
        mvgen_default_model::ENHANCER,
    )
    .unwrap();
    std::fs::write(folder.join("notes.txt"), b"ignored").unwrap();
    std::fs::create_dir_all(folder.join(".half-installed")).unwrap();
    let c = scan(&folder, Origin::User);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.looks.len(), 1);
    let look = &c.looks[0];
    assert_eq!(look.name(), "neon");
    assert_eq!(look.description.ngf, Some(16));
    assert_eq!(look.enhancer, Some(folder.join("neon.enhancer.onnx")));
    assert_eq!(enhancer_for(&look.generator), look.enhancer);
    look.remove().unwrap();
    assert!(!folder.join("neon.onnx").exists() && !folder.join("neon.enhancer.onnx").exists());
    assert!(folder.join("notes.txt").exists());
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn a_saved_look_is_found_renamed_changed_or_missing() {
    let folder = scratch("resolve");
    make_look(&folder, "ember", "Ember", true);
    let c = scan(&folder, Origin::User);
    let ember = c.find("Ember").unwrap().id();
    assert!(matches!(c.resolve(&ember), Resolution::Found(l) if l.name() == "Ember"));
    let renamed = LookId {
        name: "Old name".into(),
        ..ember.clone()
    };
    assert!(matches!(c.resolve(&renamed), Resolution::Renamed(l) if l.name() == "Ember"));
    let changed = LookId {
        sha256: "0".repeat(64),
        ..ember.clone()
    };
    assert!(matches!(c.resolve(&changed), Resolution::Changed(l) if l.name() == "Ember"));
    let missing = LookId {
        name: "Gone".into(),
        sha256: "0".repeat(64),
    };
    assert_eq!(c.resolve(&missing), Resolution::Missing);
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn only_the_users_looks_can_be_removed() {
    let folder = scratch("remove");
    let dir = make_look(&folder, "ember", "Ember", true);
    let shipped = scan(&folder, Origin::Shipped);
    let why = shipped.looks[0].remove().unwrap_err();
    assert!(why.reason.contains("shipped"), "{why}");
    assert!(dir.is_dir());
    scan(&folder, Origin::User).looks[0].remove().unwrap();
    assert!(!dir.exists());
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn the_embedded_look_is_the_default_model_and_reacts() {
    let look = Look::embedded().unwrap();
    assert_eq!(look.name(), DEFAULT_NAME);
    assert!(mvgen_default_model::is_default(&look.generator));
    assert!(look.enhancer.is_some() && look.thumbnail.is_some());
    assert!(shortfalls(&look.description.reactivity).is_empty());
    assert!(look.remove().is_err());
}

#[test]
fn shortfalls_say_by_how_much() {
    let reaction = |variety, coupling, motion| Reaction {
        song: "s".into(),
        numbers: Reactivity {
            motion,
            variety,
            coupling,
            frames: 100,
        },
    };
    assert!(shortfalls(&[reaction(30.0, 0.5, 4.0)]).is_empty());
    let short = shortfalls(&[reaction(20.0, 0.1, 4.0), reaction(22.0, 0.2, 4.0)]);
    assert_eq!(short.len(), 2, "{short:?}");
    assert!(
        short[0].contains("variety 21.0") && short[0].contains("4.0 short"),
        "{short:?}"
    );
    assert!(
        short[1].contains("coupling 0.15") && short[1].contains("0.15 short"),
        "{short:?}"
    );
    assert!(shortfalls(&[reaction(30.0, 0.5, 14.0)])[0].contains("flickers"));
    assert!(!shortfalls(&[]).is_empty());
}

#[test]
fn slugs_are_folder_names() {
    assert_eq!(slug("Ember"), "ember");
    assert_eq!(slug("  Night Drive / v2 "), "night-drive-v2");
    assert_eq!(slug("../.."), "look");
    assert_eq!(slug("Größe"), "größe");
}
