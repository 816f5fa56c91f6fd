-- Bounce the "song" track's session range through its processors (MVGen included), as
-- Ardour's "Bounce (with processing)" does, headlessly (run by ardour7-lua):
--   ardour7-lua bounce_track.lua <session folder> <name>
-- Prints "BOUNCED <samples>" and one "SOURCE <path>" line per channel of the new region.
local dir, name = arg[1], arg[2]
assert(load_session(dir, name), "could not load the session in " .. dir)
local track = Session:route_by_name("song"):to_track()
local range = Session:locations():session_range_location()
local from, to = range:start():samples(), range:_end():samples()
local region = track:bounce_range(from, to, ARDOUR.InterThreadInfo(), track:main_outs(), false, "bounced")
assert(not region:isnil(), "the track did not bounce")
print("BOUNCED " .. region:length():samples())
local audio_region = region:to_audioregion()
for i = 0, audio_region:n_channels() - 1 do
  print("SOURCE " .. region:source(i):to_filesource():path())
end
