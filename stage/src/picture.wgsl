// The stage's picture: the frame (the feed's 256x256, or the look's enhancer's 1024x1024)
// enlarged with a Catmull-Rom filter (sharper than
// bilinear, no ringing to speak of; bilinear where the adapter is the CPU), placed in the
// picture's rectangle of the window, and the square meeting a picture that is not square
// as the publishing formats' fills do (the blur fill's background is made on the CPU, a
// small blurred and darkened copy of the frame, and only enlarged here).

struct Layout {
    // The picture's rectangle in the window, in pixels (black outside it).
    picture_min: vec2f,
    picture_size: vec2f,
    // The square the frame fills, in pixels.
    square_min: vec2f,
    square_side: f32,
    // 0 blur, 1 mirror, 2 crop, 3 black (crop's square covers the picture).
    fill: u32,
    // 1: Catmull-Rom, 0: bilinear (one tap a pixel, for a CPU adapter).
    sharp: u32,
    // The share of the square the mirror fill leaves out at the edges it reflects about.
    inset: f32,
    _pad1: f32,
    _pad2: f32,
};

@group(0) @binding(0) var<uniform> place: Layout;
@group(0) @binding(1) var frame: texture_2d<f32>;
@group(0) @binding(2) var bilinear: sampler;
@group(0) @binding(3) var background: texture_2d<f32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
    // One triangle over the whole window.
    let p = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4f(p * 2.0 - 1.0, 0.0, 1.0);
}

// Catmull-Rom at uv in [0, 1], from nine bilinear taps (the weights of the middle two
// texels folded into one tap's position).
fn catmull_rom(uv: vec2f) -> vec3f {
    if place.sharp == 0u {
        return textureSampleLevel(frame, bilinear, uv, 0.0).rgb;
    }
    let size = f32(textureDimensions(frame).x);
    let at = uv * size;
    let centre = floor(at - 0.5) + 0.5;
    let f = at - centre;
    let w0 = f * (-0.5 + f * (1.0 - 0.5 * f));
    let w1 = 1.0 + f * f * (-2.5 + 1.5 * f);
    let w2 = f * (0.5 + f * (2.0 - 1.5 * f));
    let w3 = f * f * (-0.5 + 0.5 * f);
    let w12 = w1 + w2;
    let t0 = (centre - 1.0) / size;
    let t3 = (centre + 2.0) / size;
    let t12 = (centre + w2 / w12) / size;
    var c = vec3f(0.0);
    c += textureSampleLevel(frame, bilinear, vec2f(t0.x, t0.y), 0.0).rgb * w0.x * w0.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t12.x, t0.y), 0.0).rgb * w12.x * w0.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t3.x, t0.y), 0.0).rgb * w3.x * w0.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t0.x, t12.y), 0.0).rgb * w0.x * w12.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t12.x, t12.y), 0.0).rgb * w12.x * w12.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t3.x, t12.y), 0.0).rgb * w3.x * w12.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t0.x, t3.y), 0.0).rgb * w0.x * w3.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t12.x, t3.y), 0.0).rgb * w12.x * w3.y;
    c += textureSampleLevel(frame, bilinear, vec2f(t3.x, t3.y), 0.0).rgb * w3.x * w3.y;
    return clamp(c, vec3f(0.0), vec3f(1.0));
}

@fragment
fn fs(@builtin(position) position: vec4f) -> @location(0) vec4f {
    let p = position.xy;
    let picture_max = place.picture_min + place.picture_size;
    if any(p < place.picture_min) || any(p >= picture_max) {
        return vec4f(0.0, 0.0, 0.0, 1.0);
    }
    let q = (p - place.square_min) / place.square_side;
    if place.fill == 1u {
        // On the axis with bands, the square less `inset` at each end, reflected
        // outwards from there, and again from the reflection's edges (as the videos'
        // mirror fill).
        let e = place.inset;
        let span = 1.0 - 2.0 * e;
        let r = (q - e) / span;
        let m = r - 2.0 * floor(r * 0.5);
        let folded = e + span * select(m, 2.0 - m, m > vec2f(1.0));
        let banded = place.picture_size > vec2f(place.square_side + 0.5);
        return vec4f(catmull_rom(select(q, folded, banded)), 1.0);
    }
    if all(q >= vec2f(0.0)) && all(q <= vec2f(1.0)) {
        return vec4f(catmull_rom(q), 1.0);
    }
    if place.fill == 0u {
        // A zoom of the blurred, darkened frame that covers the picture.
        let cover = max(place.picture_size.x, place.picture_size.y);
        let c = (p - (place.picture_min + 0.5 * place.picture_size)) / cover + 0.5;
        return vec4f(textureSampleLevel(background, bilinear, c, 0.0).rgb, 1.0);
    }
    return vec4f(0.0, 0.0, 0.0, 1.0);
}
