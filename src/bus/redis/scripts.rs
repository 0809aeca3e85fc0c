//! The Lua scripts the intent queue runs atomically on Redis.

/// Claim an intent id and put the intent on its stream, atomically; optionally announce it.
///
/// The stream holds at most `cap` entries. Entries every consumer is done with (before the
/// oldest one still pending, and not after what the group has read) are trimmed to make
/// room; entries not yet handled never are. When unhandled ones fill it, the intent is
/// refused: the claim is released (so it can be published again later) and the refusing
/// node's name is kept on the id for a while, so it alone answers. Every node hears each
/// publication once: another node that hears this id while that mark stands is hearing the
/// same publication late (its reader lagged) and stays silent, even if there is room by
/// now; the refusing node hearing it again is hearing it published again, and takes it.
///
/// KEYS: claim key, stream, channel, refused key. ARGV: node, claim ttl s, cap, envelope,
/// publish?, group, answer refusals?, refused ttl s.
/// Returns the stream entry id; false when the id was already claimed; or, refused,
/// `{entries in the stream, 1 if this node answers the refusal else 0}`.
pub(super) const ENQUEUE_LUA: &str = r"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local refused_by = redis.call('GET', KEYS[4])
if refused_by and refused_by ~= ARGV[1] then
  return {0, 0}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return false
end
local cap = tonumber(ARGV[3])
local len = redis.call('XLEN', KEYS[2])
if len >= cap then
  local keep = nil
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[2])
  if ok then
    for _, g in ipairs(groups) do
      local name, last = nil, nil
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] end
        if g[i] == 'last-delivered-id' then last = g[i + 1] end
      end
      if name == ARGV[6] and last then
        local ms, seq = parse(last)
        keep = ms .. '-' .. (seq + 1)
        local p = redis.call('XPENDING', KEYS[2], ARGV[6])
        if p[1] > 0 and before(p[2], keep) then keep = p[2] end
      end
    end
  end
  if keep then
    redis.call('XTRIM', KEYS[2], 'MINID', keep)
    len = redis.call('XLEN', KEYS[2])
  end
  if len >= cap then
    redis.call('DEL', KEYS[1])
    local first = 0
    if ARGV[7] == '1' then
      redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[8])
      first = 1
    end
    return {len, first}
  end
end
local entry = redis.call('XADD', KEYS[2], '*', 'envelope', ARGV[4])
if ARGV[5] == '1' then
  redis.call('PUBLISH', KEYS[3], ARGV[4])
end
return entry
";

/// Keep the entries this node holds (queued for its agents or running) fresh, so no node —
/// this one included — takes them over while it still works on them: reset their idle time
/// with `XCLAIM … JUSTID` (which does not count a delivery), but only those still pending
/// for this consumer. KEYS: stream. ARGV: group, consumer, entry ids. Returns the ids that
/// are still this node's.
pub(super) const REFRESH_LUA: &str = r"
local kept = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept[#kept + 1] = ARGV[i]
  end
end
return kept
";

/// Entry ids refreshed per script call.
pub(super) const REFRESH_BATCH: usize = 500;
