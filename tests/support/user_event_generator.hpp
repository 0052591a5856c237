#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace provbridge::test_support {

// Generates a reproducible stream of user events (assign, update, unassign, delete, role
// changes, directory-disabled accounts) for one app, and models what the target must hold
// afterwards under the bridge's rules. Independent of the bridge's code on purpose: it is the
// expectation the end-to-end tests compare the real SCIM target with.
class UserEventGenerator {
public:
    struct Expected {
        std::string user_name;
        bool active = true;
        nlohmann::json attributes;  // the Entra attributes last applied
    };

    // `grace`: the app keeps a deleted user's account disabled for a grace period
    // (apps[].hard_delete_after_days > 0, the default); false: deleted at once (0).
    UserEventGenerator(std::string app, std::uint32_t seed, std::size_t users, bool grace = true);

    // The next n events as JSON lines (structured CloudEvents), users interleaved, per-user
    // versions increasing. Updates the expected state.
    std::vector<std::string> next(std::size_t n);

    // Accounts the target must hold, keyed by userName (lower-cased: userName is caseExact=false).
    std::map<std::string, Expected> expected_accounts() const;

    // Every event id generated so far.
    const std::vector<std::string>& event_ids() const { return ids_; }
    const std::string& source() const { return source_; }

private:
    struct User {
        std::string id;
        nlohmann::json attributes;
        std::int64_t version = 0;
        bool present = false;      // the user exists in the directory (not deleted)
        bool has_account = false;  // an account exists in the target (active or not)
        // Deleted while assigned, within the grace period: the link keeps the assignment, so an
        // update restores the user (hard_delete_after_days > 0 only).
        bool role_kept = false;
        bool linked_active = false;  // assigned and provisioned (updates flow)
        bool target_active = false;
        nlohmann::json applied;
    };
    nlohmann::json fresh_attributes(std::size_t index);
    nlohmann::json mutate(const nlohmann::json& attributes);
    std::string event(User& user, const std::string& type, const std::optional<std::string>& role);

    std::string app_;
    bool grace_ = true;
    std::string source_ = "urn:directory:e2e";
    std::mt19937 rng_;
    std::vector<User> users_;
    std::vector<std::string> ids_;
    std::uint64_t sequence_ = 0;
};

}  // namespace provbridge::test_support
