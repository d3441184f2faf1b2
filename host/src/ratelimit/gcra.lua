-- GCRA for one key, atomically in Redis: the same steps as gcra.rs, in µs.
-- KEYS[1]: the key. ARGV[1]: interval T (µs). ARGV[2]: tolerance τ = burst × T (µs).
-- Returns {1, delay_us} when admitted, {0, retry_after_us} when refused.
-- Time comes from Redis (TIME), so every switchyard instance shares one clock.
-- The key expires at its TAT: an idle key holds no state.
-- µs since 1970 (~1.8e15) fit a Lua number (a double) exactly.
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes, Redis < 5
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = math.max(tonumber(stored), now)
end
local ahead = tat - now
if ahead > tolerance then
  return {0, ahead - tolerance}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, ahead}
