#include "provbridge/transforms/deletion_threshold.hpp"

namespace provbridge::transforms {

DeletionAdmission judge_deletion(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t staged,
                                 bool allowed) {
    if (!threshold.enabled() || allowed) return DeletionAdmission::Admitted;
    if (staged > 0 || counted >= threshold.max_operations) return DeletionAdmission::Staged;
    return DeletionAdmission::Admitted;
}

std::string window_phrase(std::chrono::milliseconds window) {
    const auto minutes = window.count() / 60000;
    if (minutes % (24 * 60) == 0 && minutes > 0) return std::to_string(minutes / (24 * 60)) + " d";
    if (minutes % 60 == 0 && minutes >= 120) return std::to_string(minutes / 60) + " h";
    return std::to_string(minutes) + " min";
}

std::string staged_reason(const DeletionThresholdConfig& threshold, const DeletionWindow& window) {
    if (window.staged > 0) {
        return std::to_string(window.staged) +
               (window.staged == 1 ? " staged operation of the app waits" : " staged operations of the app wait") +
               " for an operator";
    }
    return std::to_string(window.counted) + " disables and deletes within " + window_phrase(threshold.window) +
           " reached the app's deletion threshold (" + std::to_string(threshold.max_operations) + ")";
}

}  // namespace provbridge::transforms
