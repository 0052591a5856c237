#pragma once

#include <cstdint>
#include <string_view>

#include "provbridge/core/minute_stats.hpp"

namespace provbridge::transforms {

// An app's state at a glance, worst first: what `provbridge status` prints, exits non-zero on,
// and the dashboard colours.
enum class AppHealth { Quarantined, StagedDeletes, Degraded, Healthy };
std::string_view to_string(AppHealth health);

// Degraded: of the events of the window (the last minutes), at least this many ended, and at
// least this share of them failed (dead-lettered). Fewer events say nothing either way.
inline constexpr std::int64_t kDegradedMinEvents = 10;
inline constexpr double kDegradedFailureShare = 0.10;

AppHealth judge_app_health(bool quarantined, std::int64_t staged_deletes, const MinuteStats& window);

}  // namespace provbridge::transforms
