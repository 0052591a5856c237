#pragma once

#include <chrono>
#include <cstdint>

namespace provbridge::transforms {

// A rolling window kept as counters in fixed time buckets (in Redis one expiring key per
// bucket): about 30 buckets per window, none shorter than 10 s. The window slides in steps of a
// bucket, which is precise enough for counts over minutes and keeps the sum in a script small.
// The quarantine's failure window and the deletion threshold's window both use it.
struct WindowBuckets {
    std::int64_t bucket_ms = 0;
    std::int64_t first = 0;    // the oldest bucket in the window
    std::int64_t current = 0;  // the bucket of now: where an operation is counted
    std::int64_t ttl_ms = 0;   // a bucket's lifetime: it expires once the window has left it behind
};

WindowBuckets window_buckets(std::chrono::milliseconds window, std::int64_t now_ms);

}  // namespace provbridge::transforms
