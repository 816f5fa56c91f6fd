-- Make an Ardour session for the host test, headlessly (run by ardour7-lua):
--   ardour7-lua new_session.lua <session folder> <name> <rate> <samples>
-- A stereo track "song" holds a region of <samples> at sample 0, fades off (Ardour's
-- 64-sample default fades would change the audio), inside an "insert file" command so that
-- Ardour sets the session range to the region. MVGen is the track's first processor, with
-- its Video settings at 720p, 9:16, mirror.
-- Ardour's Lua cannot import a file without its GUI, so the region comes from a bounce of
-- the empty track: the test writes the song into the region's source files afterwards.
-- Prints one "SOURCE <path>" line per channel.
local dir, name, rate, samples = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
assert(create_session(dir, name, rate), "could not create the session in " .. dir)

local track = Session:new_audio_track(2, 2, nil, 1, "song",
  ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front()
local region = track:bounce_range(0, samples, ARDOUR.InterThreadInfo(), track:main_outs(), false, "song")
assert(not region:isnil(), "the empty track did not bounce")
local audio_region = region:to_audioregion()
audio_region:set_fade_in_active(false)
audio_region:set_fade_out_active(false)

local playlist = track:playlist()
Session:begin_reversible_command("insert file")
playlist:to_stateful():clear_changes()
playlist:add_region(region, Temporal.timepos_t(0), 1, false, 0, 0, false)
Session:add_stateful_diff_command(playlist:to_statefuldestructible())
Session:commit_reversible_command(nil)

local plugin = ARDOUR.LuaAPI.new_plugin(Session, "MVGen", ARDOUR.PluginType.VST3, "")
assert(not plugin:isnil(), "MVGen is not in Ardour's plugin list (was the bundle scanned?)")
assert(track:add_processor_by_index(plugin, 0, nil, true) == 0, "MVGen could not be inserted")

-- The session's Video settings, saved with it: 720p, 9:16, mirror (each enum
-- parameter takes its choice's index).
local plug = plugin:to_insert():plugin(0)
local wanted = { ["Video size"] = 1, ["Video aspect"] = 1, ["Video fill"] = 1 }
for j = 0, plug:parameter_count() - 1 do
  local id, _ = plug:nth_parameter(j, false)
  local label = plug:parameter_label(id)
  if wanted[label] then
    assert(ARDOUR.LuaAPI.set_processor_param(plugin, j, wanted[label]), "could not set " .. label)
    wanted[label] = nil
  end
end
assert(next(wanted) == nil, "MVGen has no Video parameters")
-- Ardour hands parameter changes to a VST3 plugin with the next processed block, and saves
-- the plugin's own state beside them: let the engine run so that both hold the settings.
ARDOUR.LuaAPI.usleep(1000000)

for i = 0, audio_region:n_channels() - 1 do
  print("SOURCE " .. region:source(i):to_filesource():path())
end
Session:save_state("", false, false, false, false, false)
