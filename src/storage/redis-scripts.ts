/**
 * The Redis store's Lua scripts. Each touches keys of one hash slot only (an entry and its
 * purge tombstone, or one tag's index), so each is atomic in a Cluster too. Times are epoch
 * ms passed in by the caller (the store's clock), never Redis's TIME.
 *
 * Entry hash fields: b body, m meta JSON, e expiresAt, s size counted in stats,
 * t tags JSON (absent without tags), i invalidatedAt (absent when not invalidated).
 * Tombstone: a sorted set of purge records that reached the key, scored by purge time,
 * each JSON `{"k":"h"|"s","at":ms,"a":true}` (reached by key) or `{…,"t":[tags]}`.
 */
import { defineLua } from './redis-connection.ts'

/**
 * Does `rec` (a decoded record) reach an entry carrying `tags`? Shared by the set script.
 */
const REACHES = `
local function reaches(rec, tags)
  if rec.a then return true end
  if type(rec.t) ~= 'table' then return false end
  for _, want in ipairs(rec.t) do
    for _, have in ipairs(tags) do
      if want == have then return true end
    end
  end
  return false
end
`

/**
 * KEYS: entry, tombstone. ARGV: now, fetchedAt ('' = unchecked), body, meta, expiresAt,
 * tags JSON ('' = none), invalidatedAt ('' = none), refuse ('1'), ttlMs, size.
 * Replaces the entry unless refused here or by a tombstone record at or after fetchedAt;
 * a refused set still deletes what was there. Returns {stored, existed, oldSize, oldTags}.
 */
export const SET_ENTRY = defineLua(`${REACHES}
local old = redis.call('HMGET', KEYS[1], 's', 't')
local existed = 0
if old[1] then existed = 1 end
local oldSize = old[1] or '0'
local oldTags = old[2] or ''
local refuse = ARGV[8] == '1'
local inv = ARGV[7]
if not refuse and ARGV[2] ~= '' then
  local tags = {}
  if ARGV[6] ~= '' then tags = cjson.decode(ARGV[6]) end
  for _, raw in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], '+inf')) do
    local rec = cjson.decode(raw)
    if reaches(rec, tags) then
      if rec.k == 'h' then
        refuse = true
      elseif inv == '' or tonumber(rec.at) < tonumber(inv) then
        inv = string.format('%.0f', rec.at)
      end
    end
  end
end
if existed == 1 then redis.call('DEL', KEYS[1]) end
if refuse then return {0, existed, oldSize, oldTags} end
local fields = {'b', ARGV[3], 'm', ARGV[4], 'e', ARGV[5], 's', ARGV[10]}
if ARGV[6] ~= '' then table.insert(fields, 't'); table.insert(fields, ARGV[6]) end
if inv ~= '' then table.insert(fields, 'i'); table.insert(fields, inv) end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[9])
return {1, existed, oldSize, oldTags}
`)

/** KEYS: entry. ARGV: now. Returns {removed, live, size, tags}. */
export const DELETE_ENTRY = defineLua(`
local e = redis.call('HMGET', KEYS[1], 'e', 's', 't')
if not e[1] then return {0, 0, '0', ''} end
redis.call('DEL', KEYS[1])
local live = 0
if tonumber(e[1]) > tonumber(ARGV[1]) then live = 1 end
return {1, live, e[2] or '0', e[3] or ''}
`)

/**
 * KEYS: entry, tombstone. ARGV: now, purgedAt, soft ('1'), dryRun ('1'), byKey ('1': reached
 * by prefix or all, else by tags), purge tags JSON, windowMs.
 * Unless a dry run, first records the purge in the tombstone (so a set in flight for this
 * key, fetched at or before it, is refused or invalidated), then purges the live entry when
 * the purge reaches it. Returns {reached, removed, size, tags}.
 */
export const PURGE_ENTRY = defineLua(`${REACHES}
local now = tonumber(ARGV[1])
local soft = ARGV[3] == '1'
local dry = ARGV[4] == '1'
local rec = {k = soft and 's' or 'h', at = tonumber(ARGV[2])}
if ARGV[5] == '1' then rec.a = true else rec.t = cjson.decode(ARGV[6]) end
if not dry then
  redis.call('ZADD', KEYS[2], ARGV[2], cjson.encode(rec))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.0f', now - tonumber(ARGV[7])))
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
local e = redis.call('HMGET', KEYS[1], 'e', 's', 't', 'i')
if not e[1] or tonumber(e[1]) <= now then return {0, 0, '0', ''} end
local tags = {}
if e[3] then tags = cjson.decode(e[3]) end
if not reaches(rec, tags) then return {0, 0, '0', ''} end
if dry then return {1, 0, '0', ''} end
if soft then
  if not e[4] or tonumber(e[4]) > now then redis.call('HSET', KEYS[1], 'i', ARGV[2]) end
  return {1, 0, '0', ''}
end
redis.call('DEL', KEYS[1])
return {1, 1, e[2] or '0', e[3] or ''}
`)

/**
 * KEYS: tag index (sorted set of keys scored by expiresAt). ARGV: key, expiresAt, ttlMs, now.
 * Adds the key, keeping its latest expiry, drops members expired by `now`, and keeps the
 * set alive as long as its longest-lived member.
 */
export const INDEX_TAG = defineLua(`
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`)

/**
 * KEYS: a purge-record sorted set. ARGV: purgedAt, record, windowMs.
 * Adds the record, forgets records older than the window, keeps the set for the window.
 */
export const RECORD_PURGE = defineLua(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', tonumber(ARGV[1]) - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

/** KEYS: the last-purge key. ARGV: purgedAt. Keeps the latest purge time. */
export const NOTE_LAST_PURGE = defineLua(`
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)

/**
 * KEYS: a fill lock. ARGV: a new token, ttlMs.
 * The lock holds a holder's token, or `=<result>` for a while after its release (so a
 * waiter that polls learns how the fill ended). Claims it unless a token is there.
 * Returns 1 when claimed.
 */
export const ACQUIRE_FILL = defineLua(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) ~= '=' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

/**
 * KEYS: a fill lock. ARGV: the holder's token, its result, resultTtlMs.
 * Ends the claim only while the lock still holds this token (a lock that expired and was
 * claimed by another instance is not ours to end), leaving `=<result>` for pollers.
 * Returns 1 when it ended the claim.
 */
export const RELEASE_FILL = defineLua(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], '=' .. ARGV[2], 'PX', ARGV[3])
return 1
`)
