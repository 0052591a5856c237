#include "provbridge/transforms/rolling_window.hpp"

#include <algorithm>

namespace provbridge::transforms {

WindowBuckets window_buckets(std::chrono::milliseconds window, std::int64_t now_ms) {
    WindowBuckets b;
    b.bucket_ms = std::max<std::int64_t>(10000, window.count() / 30);
    b.current = now_ms / b.bucket_ms;
    const std::int64_t buckets = std::max<std::int64_t>(1, window.count() / b.bucket_ms);
    b.first = b.current - buckets + 1;
    b.ttl_ms = window.count() + 2 * b.bucket_ms;
    return b;
}

}  // namespace provbridge::transforms
