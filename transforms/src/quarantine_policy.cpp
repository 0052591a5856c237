#include "provbridge/transforms/quarantine_policy.hpp"

#include <algorithm>
#include <cmath>

namespace provbridge::transforms {

bool failure_ratio_exceeded(const OperationWindow& window, const QuarantineConfig& policy) {
    const std::int64_t total = window.succeeded + window.failed;
    if (total <= 0 || total < policy.min_operations) return false;
    return static_cast<double>(window.failed) > policy.failure_ratio * static_cast<double>(total);
}

std::string failure_ratio_reason(const OperationWindow& window, const QuarantineConfig& policy) {
    const std::int64_t total = window.succeeded + window.failed;
    const auto percent = [](double ratio) { return std::to_string(static_cast<int>(std::lround(ratio * 100))) + "%"; };
    const double share = total > 0 ? static_cast<double>(window.failed) / static_cast<double>(total) : 0.0;
    return percent(share) + " of the last " + std::to_string(total) + " SCIM operations failed (threshold " +
           percent(policy.failure_ratio) + " of at least " + std::to_string(policy.min_operations) + ")";
}

std::int64_t probe_delay_ms(const QuarantineConfig& policy, int failed_probes) {
    if (policy.probe_intervals.empty()) return 60000;
    const auto index = static_cast<std::size_t>(std::clamp<int>(failed_probes, 0, static_cast<int>(policy.probe_intervals.size()) - 1));
    return policy.probe_intervals[index].count();
}

}  // namespace provbridge::transforms
