-- wrk script: each thread cycles through its share of a pre-signed request file
-- (lines "id<TAB>timestamp<TAB>signature<TAB>body"; thread t of n takes lines t, t+n, ...).
-- Prints one line "BENCH_JSON {...}" with counts and latency percentiles (microseconds).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   requests, index, ok, bad, wrapped = {}, 0, 0, 0, 0
   local line_no = 0
   for line in io.lines(path) do
      if line_no % nthreads == tid then
         local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         local headers = {
            ["Content-Type"] = "application/json",
            ["webhook-id"] = id,
            ["webhook-timestamp"] = ts,
            ["webhook-signature"] = sig,
         }
         requests[#requests + 1] = wrk.format("POST", nil, headers, body)
      end
      line_no = line_no + 1
   end
end

function request()
   index = index + 1
   if index > #requests then
      index = 1
      wrapped = wrapped + 1
   end
   return requests[index]
end

function response(status, headers, body)
   if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
   local ok_total, bad_total, wrapped_total = 0, 0, 0
   for _, thread in ipairs(threads) do
      ok_total = ok_total + thread:get("ok")
      bad_total = bad_total + thread:get("bad")
      wrapped_total = wrapped_total + thread:get("wrapped")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "seconds": %.6f, "ok": %d, "non2xx": %d, "wrapped": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
      '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
      summary.requests, summary.duration / 1e6, ok_total, bad_total, wrapped_total,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000))
end
