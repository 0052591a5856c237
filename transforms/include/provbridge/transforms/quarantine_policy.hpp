#pragma once

#include <cstdint>
#include <string>

#include "provbridge/core/config.hpp"
#include "provbridge/core/quarantine.hpp"

namespace provbridge::transforms {

// Whether the window's failures trip the quarantine: at least min_operations operations, and a
// failed share above failure_ratio.
bool failure_ratio_exceeded(const OperationWindow& window, const QuarantineConfig& policy);

// "62% of the last 80 SCIM operations failed (threshold 40% of at least 50)".
std::string failure_ratio_reason(const OperationWindow& window, const QuarantineConfig& policy);

// The wait before the next probe after `failed_probes` failed ones: the configured intervals in
// turn, the last repeating.
std::int64_t probe_delay_ms(const QuarantineConfig& policy, int failed_probes);

}  // namespace provbridge::transforms
