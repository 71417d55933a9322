-- The Lua peer of bench/compare.sh: ngx_itsm_module's generic alert
-- endpoint written as an OpenResty user would write it for Debian's
-- libnginx-mod-http-lua, lua-cjson and lua-luaossl (bench/conf/lua.conf).
--
-- POST a generic JSON alert ({"key", "title", "severity", "description",
-- "status"}): a firing alert whose key has no ticket creates one through a
-- subrequest to the ITSM location (ngx.location.capture, proxy_pass with
-- keepalive), reads its id and remembers key -> ticket in a shared dict; a
-- later alert for the key is answered "duplicate" without a request to the
-- ITSM.  Concurrent first alerts for one key make one ticket: the first
-- claims the key with dict:add() (atomic across workers), the others wait
-- for the ticket the claim turns into.  Optionally the body is verified
-- first (Standard Webhooks, HMAC-SHA256).  The answers have the module's
-- JSON shapes and codes, so that a sender cannot tell the two apart.
--
-- Not done, as most users would not do it either: no durable state (the
-- dict is lost on restart), no retry queue, no lifecycle beyond
-- create/duplicate/ignored/left_open.

local cjson = require "cjson.safe"
local hmac = require "openssl.hmac"
local bit = require "bit"

local ngx = ngx
local ngx_var = ngx.var
local ngx_req = ngx.req
local byte = string.byte
local bor, bxor = bit.bor, bit.bxor

-- the module refuses deeper JSON before parsing (itsm_max_depth 32)
cjson.decode_max_depth(32)

-- the value of a key while its first create is in flight; a ticket id is
-- never empty, and the mock's never starts with a NUL
local CLAIM = "\0claim"

local _M = {}
local conf, dict, key_bytes

function _M.configure(c)
    conf = c
    dict = ngx.shared[c.dict]
    if c.secret and c.secret ~= "" then
        -- "whsec_" and the base64 of the HMAC key
        key_bytes = ngx.decode_base64(c.secret:gsub("^whsec_", ""))
        assert(key_bytes, "the webhook secret is not whsec_<base64>")
    end
end

local function reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print(body)
end

local function fail(status, err, message)
    return reply(status, '{"error":"' .. err .. '","message":' .. cjson.encode(message) .. '}')
end

local function result(status, outcome, action, key, ticket, reason)
    local s = '{"status":"' .. outcome .. '","alerts":[{"key":' .. cjson.encode(key)
              .. ',"action":"' .. action .. '","outcome":"' .. outcome
              .. '","connector":"' .. conf.connector .. '"'
    if ticket then
        s = s .. ',"ticket_id":' .. cjson.encode(ticket)
    end
    if reason then
        s = s .. ',"reason":"' .. reason .. '"'
    end
    return reply(status, s .. '}]}')
end

-- the body, also when nginx wrote it to a temp file (past
-- client_body_buffer_size)
local function read_body()
    ngx_req.read_body()
    local body = ngx_req.get_body_data()
    if body then
        return body
    end
    local path = ngx_req.get_body_file()
    if not path then
        return nil
    end
    local f, err = io.open(path, "rb")
    if not f then
        ngx.log(ngx.ERR, "cannot open the request body file: ", err)
        return nil
    end
    body = f:read("*a")
    f:close()
    return body
end

local function equal_ct(a, b)   -- constant time for strings of one length
    if #a ~= #b then
        return false
    end
    local d = 0
    for i = 1, #a do
        d = bor(d, bxor(byte(a, i), byte(b, i)))
    end
    return d == 0
end

-- Standard Webhooks: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
-- or more, space-separated, in webhook-signature
local function verify(body)
    local id, ts, sigs = ngx_var.http_webhook_id, ngx_var.http_webhook_timestamp,
                         ngx_var.http_webhook_signature
    if not (id and ts and sigs) then
        return "signature_missing", "the request is not signed (webhook-id, webhook-timestamp, webhook-signature)"
    end
    local t = tonumber(ts)
    if not t or math.abs(ngx.time() - t) > conf.tolerance then
        return "timestamp_out_of_range", "webhook-timestamp is outside the tolerance"
    end
    local h = hmac.new(key_bytes, "sha256")
    h:update(id, ".", ts, ".")
    local mac = ngx.encode_base64(h:final(body))
    for version, sig in sigs:gmatch("(v%d+),(%S+)") do
        if version == "v1" and equal_ct(sig, mac) then
            return nil
        end
    end
    return "signature_mismatch", "no signature matches the body"
end

-- the ticket of a key claimed by another request: wait until the claim
-- turns into a ticket (or is released, or its lease runs out)
local function wait_for_ticket(key)
    local deadline = ngx.now() + conf.lease
    local delay = 0.001
    while true do
        local v = dict:get(key)
        if v ~= CLAIM then
            return v            -- the ticket, or nil: the claim was released
        end
        if ngx.now() >= deadline then
            return nil, "timeout"
        end
        ngx.sleep(delay)
        delay = math.min(delay * 2, 0.05)
    end
end

local function create(alert, key)
    local req = cjson.encode({
        Queue = "General",
        Subject = "[" .. tostring(alert.severity or "") .. "] " .. tostring(alert.title or key),
        Content = tostring(alert.description or "") .. "\n\nAlert key: " .. key,
    })
    local res = ngx.location.capture(conf.create_uri, { method = ngx.HTTP_POST, body = req })
    if res.status < 200 or res.status > 299 then
        dict:delete(key)        -- release the claim: the next alert tries again
        if res.status >= 400 and res.status < 500 and res.status ~= 408 and res.status ~= 429 then
            return fail(502, "itsm_rejected", "the ITSM answered " .. res.status)
        end
        ngx.header["Retry-After"] = "30"
        return fail(503, "itsm_unavailable", "the ITSM answered " .. res.status)
    end
    local doc = cjson.decode(res.body or "")
    local id = type(doc) == "table" and doc.id
    if type(id) == "number" then
        id = tostring(id)
    end
    if type(id) ~= "string" or id == "" then
        dict:delete(key)
        return fail(502, "itsm_bad_response", "no ticket id at /id in the ITSM's answer")
    end
    local ok, err = dict:set(key, id)
    if not ok then
        ngx.log(ngx.ERR, "cannot remember ticket ", id, " of key ", key, ": ", err)
    end
    return result(201, "created", "create", key, id)
end

function _M.alert(signed)
    if ngx_req.get_method() ~= "POST" then
        ngx.header["Allow"] = "POST"
        return fail(405, "method_not_allowed", "alerts are sent with POST")
    end
    local ct = ngx_var.content_type
    if not ct or not (ct:find("^application/json") or ct:find("^application/[%w.-]+%+json")) then
        return fail(415, "unsupported_media_type", "the alert must be sent with \"Content-Type: application/json\"")
    end

    local body = read_body()
    if not body or body == "" then
        return fail(400, "invalid_json", "the body is empty")
    end

    if signed then
        local err, message = verify(body)
        if err then
            return fail(401, err, message)
        end
    end

    local alert, err = cjson.decode(body)
    if type(alert) ~= "table" then
        return fail(400, "invalid_json", "the body is not a JSON object: " .. tostring(err))
    end
    local key = alert.key
    if type(key) == "number" then
        key = tostring(key)
    end
    if type(key) ~= "string" or key == "" then
        return fail(400, "invalid_alert", "missing field \"key\"")
    end
    local status = alert.status or "firing"
    local resolved = status == "resolved" or status == "ok" or status == "recovered"
                     or status == "closed"

    -- how often the key fired, as the module counts it in its zone
    dict:incr("#" .. key, 1, 0)

    -- at most two rounds: a claim released by a failed create is taken
    -- over by one of its waiters
    for _ = 1, 2 do
        local ticket = dict:get(key)
        if ticket == nil then
            if resolved then
                return result(200, "ignored", "none", key, nil,
                              "the alert is resolved and no ticket is open for its key")
            end
            local ok, aerr = dict:add(key, CLAIM, conf.lease)
            if ok then
                return create(alert, key)
            end
            if aerr ~= "exists" then
                ngx.header["Retry-After"] = "30"
                return fail(503, "store_unavailable", "cannot claim the key: " .. aerr)
            end
            ticket = CLAIM
        end
        if ticket == CLAIM then
            local werr
            ticket, werr = wait_for_ticket(key)
            if werr then
                ngx.header["Retry-After"] = "30"
                return fail(503, "store_unavailable", "the key stayed claimed past its lease")
            end
        end
        if ticket then
            if resolved then
                return result(200, "left_open", "none", key, ticket,
                              "on_resolve nothing: the ticket stays open")
            end
            return result(200, "duplicate", "none", key, ticket,
                          "a ticket is already open for this key")
        end
    end
    ngx.header["Retry-After"] = "30"
    return fail(503, "itsm_unavailable", "the first create for this key failed")
end

return _M
