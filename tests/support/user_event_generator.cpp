#include "user_event_generator.hpp"

#include <algorithm>
#include <array>

#include "provbridge/core/text.hpp"

namespace provbridge::test_support {
namespace {

using nlohmann::json;

constexpr std::array<const char*, 12> kGiven{"Ada", "Zoë", "Jürgen", "Søren", "Łukasz", "Amélie",
                                             "Nguyễn", "Σοφία", "Иван", "李", "José", "Grace"};
constexpr std::array<const char*, 10> kSurname{"Lovelace", "Ünïcødé", "Müller", "Kierkegaard", "Wałęsa",
                                               "Poulain", "Thị", "Παπαδοπούλου", "Петров", "O'Brien"};
constexpr std::array<const char*, 6> kTitles{"Engineer", "Designer", "Manager", "Analyst", "Directeur général",
                                             "Ingénieure"};

}  // namespace

UserEventGenerator::UserEventGenerator(std::string app, std::uint32_t seed, std::size_t users, bool grace)
    : app_(std::move(app)), grace_(grace), rng_(seed) {
    for (std::size_t i = 0; i < users; ++i) {
        User u;
        u.id = "u" + std::to_string(seed) + "-" + std::to_string(i);
        u.attributes = fresh_attributes(i);
        users_.push_back(std::move(u));
    }
}

json UserEventGenerator::fresh_attributes(std::size_t index) {
    const std::string given = kGiven[index % kGiven.size()];
    const std::string surname = kSurname[(index / kGiven.size()) % kSurname.size()];
    // One userName with a quote and a backslash: the filter must escape both.
    const std::string upn = index == 0 ? "o\"brien\\ops" + std::to_string(rng_() % 1000) + "@contoso.example"
                                       : "user" + std::to_string(index) + "." + std::to_string(rng_() % 100000) +
                                             "@contoso.example";
    return json{{"userPrincipalName", upn},
                {"mail", upn},
                {"mailNickname", "user" + std::to_string(index)},
                {"givenName", given},
                {"surname", surname},
                {"displayName", given + " " + surname},
                {"jobTitle", kTitles[rng_() % kTitles.size()]},
                {"department", "Dept " + std::to_string(rng_() % 7)},
                {"employeeId", std::to_string(1000 + index)},
                {"mobile", "+33 6 " + std::to_string(10000000 + rng_() % 89999999)},
                {"preferredLanguage", "fr-FR"},
                {"accountEnabled", true}};
}

json UserEventGenerator::mutate(const json& attributes) {
    json a = attributes;
    switch (rng_() % 5) {
        case 0: a["jobTitle"] = kTitles[rng_() % kTitles.size()]; break;
        case 1: a["department"] = "Dept " + std::to_string(rng_() % 7); break;
        case 2:
            a["mobile"] = a["mobile"].is_null() ? json("+33 7 " + std::to_string(rng_() % 90000000)) : json(nullptr);
            break;
        case 3: a["displayName"] = a["givenName"].get<std::string>() + " " + std::to_string(rng_() % 100); break;
        default: a["accountEnabled"] = !a["accountEnabled"].get<bool>(); break;
    }
    return a;
}

std::string UserEventGenerator::event(User& user, const std::string& type, const std::optional<std::string>& role) {
    ++user.version;
    const std::string id = "e2e-" + std::to_string(++sequence_) + "-" + user.id;
    ids_.push_back(id);
    json data = {{"app", app_},
                 {"object", {{"type", "user"}, {"id", user.id}, {"version", user.version}, {"attributes", user.attributes}}}};
    if (role) data["assignment"] = {{"role", *role}};
    return json{{"specversion", "1.0"}, {"id", id}, {"source", source_}, {"type", "provisioning.user." + type},
                {"subject", "user/" + user.id}, {"data", std::move(data)}}
        .dump();
}

std::vector<std::string> UserEventGenerator::next(std::size_t n) {
    std::vector<std::string> lines;
    lines.reserve(n);
    while (lines.size() < n) {
        User& u = users_[rng_() % users_.size()];
        const unsigned roll = rng_() % 100;
        if (u.linked_active) {
            if (roll < 55) {
                u.attributes = mutate(u.attributes);
                lines.push_back(event(u, "updated", std::nullopt));
                u.applied = u.attributes;
                u.target_active = u.attributes["accountEnabled"].get<bool>();
            } else if (roll < 70) {
                lines.push_back(event(u, "unassigned", std::nullopt));
                u.linked_active = false;
                u.target_active = false;
            } else if (roll < 80) {
                lines.push_back(event(u, "deleted", std::nullopt));
                u.linked_active = false;
                u.present = false;
                if (grace_) {
                    // Disabled and kept for the grace period, with its assignment.
                    u.target_active = false;
                    u.role_kept = true;
                } else {
                    u.has_account = false;
                }
            } else if (roll < 85) {
                // Role changed to Default Access: no longer entitled, so the account is disabled.
                lines.push_back(event(u, "assigned", "Default Access"));
                u.linked_active = false;
                u.target_active = false;
            } else {
                u.attributes = mutate(u.attributes);
                lines.push_back(event(u, "assigned", "User"));
                u.applied = u.attributes;
                u.target_active = u.attributes["accountEnabled"].get<bool>();
            }
        } else {
            if (roll < 65) {
                // Within a grace period the same account is re-enabled.
                if (!u.present) u.attributes["accountEnabled"] = true;
                lines.push_back(event(u, "assigned", "User"));
                u.present = true;
                u.has_account = true;
                u.role_kept = false;
                u.linked_active = true;
                u.applied = u.attributes;
                u.target_active = u.attributes["accountEnabled"].get<bool>();
            } else if (roll < 80) {
                u.attributes = mutate(u.attributes);
                lines.push_back(event(u, "updated", std::nullopt));
                if (u.role_kept) {
                    // A deleted user updated within its grace period was restored: still
                    // assigned, its account is re-enabled (as the directory says) and updated.
                    u.present = true;
                    u.role_kept = false;
                    u.linked_active = true;
                    u.applied = u.attributes;
                    u.target_active = u.attributes["accountEnabled"].get<bool>();
                }  // else not assigned: skipped
            } else if (roll < 90) {
                lines.push_back(event(u, "deleted", std::nullopt));
                u.present = false;
                // With a grace period a disabled account is kept (its hard delete scheduled).
                if (!grace_) u.has_account = false;
            } else {
                lines.push_back(event(u, "unassigned", std::nullopt));  // nothing to disable
                u.role_kept = false;
            }
        }
    }
    return lines;
}

std::map<std::string, UserEventGenerator::Expected> UserEventGenerator::expected_accounts() const {
    std::map<std::string, Expected> out;
    for (const auto& u : users_) {
        if (!u.has_account) continue;
        const std::string name = u.applied["userPrincipalName"].get<std::string>();
        out[ascii_lower(name)] = Expected{name, u.target_active, u.applied};
    }
    return out;
}

}  // namespace provbridge::test_support
