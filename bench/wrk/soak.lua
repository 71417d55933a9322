-- wrk script of bench/memory.sh's soak: a mixed load on one module, the
-- work a long-running gateway sees, so that a leak on any common path
-- shows in the worker's memory.  Of every 100 requests:
--   10  a new key (a create: the store and the zone grow),
--   10  a signed duplicate to /alerts/signed (BENCH_WEBHOOK_* headers),
--    1  a body that is not JSON (a 400 and its error answer),
--   79  a duplicate of one of 1,000 keys (made by their first request).
-- BENCH_BODY is the alert with @KEY@; BENCH_KEY the signed body's key;
-- BENCH_KEY_PREFIX makes the keys of this run.

local f = assert(io.open(assert(os.getenv("BENCH_BODY")), "rb"))
local template = f:read("*a")
f:close()
local at = assert(template:find("@KEY@", 1, true))
local head, tail = template:sub(1, at - 1), template:sub(at + 5)
local prefix = assert(os.getenv("BENCH_KEY_PREFIX"))
local signed_key = assert(os.getenv("BENCH_KEY"))

local json = { ["Content-Type"] = "application/json" }
local signed = {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = os.getenv("BENCH_WEBHOOK_ID"),
    ["webhook-timestamp"] = os.getenv("BENCH_WEBHOOK_TS"),
    ["webhook-signature"] = os.getenv("BENCH_WEBHOOK_SIG"),
}

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

local counter = 0
function request()
    counter = counter + 1
    local k = counter % 100
    if k < 10 then
        return wrk.format("POST", "/alerts", json,
                          head .. prefix .. tid .. "-new-" .. counter .. tail)
    elseif k < 20 then
        return wrk.format("POST", "/alerts/signed", signed, head .. signed_key .. tail)
    elseif k == 20 then
        return wrk.format("POST", "/alerts", json, head .. "broken" .. tail:sub(1, 40))
    end
    return wrk.format("POST", "/alerts", json,
                      head .. prefix .. tid .. "-dup-" .. (counter % 1000) .. tail)
end
