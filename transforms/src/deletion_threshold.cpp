#include "provbridge/transforms/deletion_threshold.hpp"

#include "provbridge/core/text.hpp"
#include "provbridge/transforms/scim_path.hpp"

namespace provbridge::transforms {
namespace {

bool is_false(const nlohmann::json& value) {
    if (value.is_boolean()) return !value.get<bool>();
    return value.is_string() && iequals(value.get_ref<const std::string&>(), "false");
}

bool is_active_attribute(const std::string& key) {
    const auto path = parse_scim_path(key);
    return path.ok() && (path->urn.empty() || iequals(path->urn, kUserSchema)) && iequals(path->attribute, "active") &&
           path->sub_attribute.empty() && !path->has_filter();
}

}  // namespace

bool disables_account(const PatchPlan& plan) {
    for (const auto& change : plan.changes) {
        // From false to false is no change (diff_attributes leaves it out); from "False" to false
        // takes nothing away either: the account was inactive already.
        if (is_false(change.new_value) && !is_false(change.old_value) && is_active_attribute(change.path)) return true;
    }
    return false;
}

DeletionLimit reached_limit(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t linked) {
    if (threshold.max_operations > 0 && counted >= threshold.max_operations) return DeletionLimit::Count;
    // counted / linked >= max_percent / 100, in integers. With 5 linked and 10%, the first
    // operation is admitted (0 < 0.5) and the second staged: one always passes on a small app.
    if (threshold.max_percent > 0 && counted * 100 >= threshold.max_percent * linked) return DeletionLimit::Percent;
    return DeletionLimit::None;
}

DeletionAdmission judge_deletion(const DeletionThresholdConfig& threshold, std::int64_t counted, std::int64_t staged,
                                 std::int64_t linked, bool allowed) {
    if (!threshold.enabled() || allowed) return DeletionAdmission::Admitted;
    if (staged > 0 || reached_limit(threshold, counted, linked) != DeletionLimit::None) return DeletionAdmission::Staged;
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
    const std::string counted =
        std::to_string(window.counted) + " disables and deletes within " + window_phrase(threshold.window) + " reached ";
    if (reached_limit(threshold, window.counted, window.linked) == DeletionLimit::Percent) {
        return counted + std::to_string(threshold.max_percent) + "% of the app's " + std::to_string(window.linked) +
               " linked account" + (window.linked == 1 ? "" : "s");
    }
    return counted + "the app's deletion threshold (" + std::to_string(threshold.max_operations) + ")";
}

}  // namespace provbridge::transforms
