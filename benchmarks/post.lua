-- wrk script: POST one fixed JSON body, a bounded number of times, and print a JSON summary.
-- env: BODY_FILE  the body to send (required);  MAX_REQ  cap on requests per thread
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a"):gsub("%s+$", "")
f:close()

local max_req = tonumber(os.getenv("MAX_REQ") or "3000000")
local sent = 0
local req = nil

function request()
  if req == nil then req = wrk.format() end
  sent = sent + 1
  if sent > max_req then wrk.thread:stop() end
  return req
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
