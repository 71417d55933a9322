-- wrk script of bench/compare.sh and bench/memory.sh: POSTs a generic
-- JSON alert read from BENCH_BODY, a file in which @KEY@ stands for the key
-- (or, without @KEY@, that file as it is).
--
--   BENCH_KEY=k          every request carries key k (the duplicate path:
--                        the key's ticket is open); the request is built
--                        once, as wrk does for a static request
--   BENCH_KEY_PREFIX=p   every request a new key, p<thread>-<8 digits>
--                        (the create path); BENCH_LIMIT=n stops each
--                        thread after n requests
--   BENCH_WEBHOOK_ID, BENCH_WEBHOOK_TS, BENCH_WEBHOOK_SIG
--                        Standard Webhooks headers (a signature computed
--                        for the body with BENCH_KEY)

local f = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set"), "rb"))
local template = f:read("*a")
f:close()

-- a body without @KEY@ (an Alertmanager group, whose keys are its
-- fingerprints) is sent as it is
local at = template:find("@KEY@", 1, true)
local head, tail = template, ""
if at then
    head, tail = template:sub(1, at - 1), template:sub(at + 5)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local id = os.getenv("BENCH_WEBHOOK_ID")
if id then
    wrk.headers["webhook-id"] = id
    wrk.headers["webhook-timestamp"] = os.getenv("BENCH_WEBHOOK_TS")
    wrk.headers["webhook-signature"] = os.getenv("BENCH_WEBHOOK_SIG")
end

local prefix = os.getenv("BENCH_KEY_PREFIX")

if not prefix then
    wrk.body = at and head .. assert(os.getenv("BENCH_KEY"), "BENCH_KEY or BENCH_KEY_PREFIX") .. tail
               or template
else
    assert(at, "no @KEY@ in the body: no new key for each request")
    local threads = 0
    local limit = tonumber(os.getenv("BENCH_LIMIT") or "")

    function setup(thread)
        threads = threads + 1
        thread:set("tid", threads)
    end

    local counter = 0

    function request()
        counter = counter + 1
        if limit and counter > limit then
            wrk.thread:stop()
        end
        return wrk.format(nil, nil, nil,
                          head .. prefix .. tid .. "-" .. string.format("%08d", counter) .. tail)
    end
end
