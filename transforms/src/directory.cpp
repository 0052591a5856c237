#include "provbridge/transforms/directory.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace provbridge::transforms::directory {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

std::string rfc3339(std::int64_t micros) {
    const std::int64_t seconds = micros / 1000000;
    const std::int64_t days = seconds / 86400;
    const std::int64_t rest = seconds % 86400;
    std::int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(days, y, m, d);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(rest / 3600), static_cast<long long>(rest % 3600 / 60),
                  static_cast<long long>(rest % 60), static_cast<long long>(micros % 1000000));
    return buf;
}

// `name` may list alternatives, "departmentnumber|ou": the first one the entry has.
const std::string* first_value(const Attributes& attributes, const std::string& name) {
    std::size_t at = 0;
    while (at <= name.size()) {
        const auto bar = std::min(name.find('|', at), name.size());
        const auto found = attributes.find(name.substr(at, bar - at));
        if (found != attributes.end() && !found->second.empty()) return &found->second.front();
        at = bar + 1;
    }
    return nullptr;
}


}  // namespace

std::vector<std::pair<std::string, std::string>> default_attribute_map() {
    return {{"userPrincipalName", "mail"}, {"mail", "mail"},
            {"mailNickname", "uid"},       {"givenName", "givenname"},
            {"surname", "sn"},             {"displayName", "displayname|cn"},
            {"jobTitle", "title"},         {"department", "departmentnumber|ou"},
            {"employeeId", "employeenumber"}, {"telephoneNumber", "telephonenumber"},
            {"mobile", "mobile"},          {"preferredLanguage", "preferredlanguage"}};
}

std::string normalize_dn(const std::string& dn) {
    std::string out;
    out.reserve(dn.size());
    bool after_separator = true;  // drop spaces after ',' or '=' and at the start
    for (char c : dn) {
        if (c == ' ' && after_separator) continue;
        if (c == ',' || c == '=') {
            while (!out.empty() && out.back() == ' ') out.pop_back();
            after_separator = true;
        } else {
            after_separator = false;
        }
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::optional<std::int64_t> change_time_micros(const std::string& text) {
    // YYYYMMDDHHMMSS, then an optional .ffffff, then Z.
    if (text.size() < 15) return std::nullopt;
    for (std::size_t i = 0; i < 14; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    }
    auto number = [&](std::size_t at, std::size_t n) { return std::stoll(text.substr(at, n)); };
    const auto year = number(0, 4);
    const auto month = static_cast<unsigned>(number(4, 2));
    const auto day = static_cast<unsigned>(number(6, 2));
    const auto hour = number(8, 2), minute = number(10, 2), second = number(12, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    std::int64_t micros = 0;
    std::size_t at = 14;
    if (text[at] == '.' || text[at] == ',') {
        ++at;
        std::int64_t scale = 100000;
        while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
            micros += (text[at] - '0') * scale;
            scale /= 10;
            ++at;
        }
    }
    if (at >= text.size() || text[at] != 'Z') return std::nullopt;
    const auto days = days_from_civil(year, month, day);
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1000000) + micros;
}

json to_json(const StoredUser& user) {
    json doc = {{"dn", user.dn},       {"attributes", user.attributes}, {"manager_dn", user.manager_dn},
                {"roles", user.roles}, {"changed", user.changed},       {"version", user.version}};
    if (!user.source_id.empty()) doc["source_id"] = user.source_id;
    return doc;
}

json to_json(const StoredGroup& group) {
    return {{"dn", group.dn},          {"members", group.member_dns}, {"attributes", group.attributes},
            {"roles", group.roles},    {"changed", group.changed},    {"version", group.version}};
}

Result<StoredUser> user_from_json(const json& doc) {
    try {
        StoredUser user;
        user.dn = doc.at("dn").get<std::string>();
        user.attributes = doc.at("attributes");
        user.manager_dn = doc.value("manager_dn", "");
        user.roles = doc.value("roles", std::map<std::string, std::string>{});
        user.changed = doc.value("changed", std::int64_t{0});
        user.version = doc.at("version").get<std::int64_t>();
        user.source_id = doc.value("source_id", "");
        return user;
    } catch (const json::exception& e) {
        return make_error(std::string("stored directory user is not readable: ") + e.what(), ErrorKind::Permanent);
    }
}

Result<StoredGroup> group_from_json(const json& doc) {
    try {
        StoredGroup group;
        group.dn = doc.at("dn").get<std::string>();
        group.member_dns = doc.at("members").get<std::set<std::string>>();
        group.attributes = doc.value("attributes", json::object());
        group.roles = doc.value("roles", std::map<std::string, std::string>{});
        group.version = doc.value("version", std::int64_t{0});
        group.changed = doc.value("changed", group.version);
        return group;
    } catch (const json::exception& e) {
        return make_error(std::string("stored directory group is not readable: ") + e.what(), ErrorKind::Permanent);
    }
}

json to_json(const SourceRules& rules) {
    // By app, so that reordering the configured assignments is not a change of rules.
    auto sorted = rules.apps;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.app < b.app; });
    json apps = json::array();
    for (const auto& app : sorted) {
        json doc = {{"app", app.app}, {"group_dn", app.group_dn}, {"role_attribute", app.role_attribute}};
        if (app.role) doc["role"] = *app.role;
        apps.push_back(std::move(doc));
    }
    return {{"source", rules.source},
            {"attributes", rules.attributes},
            {"manager_attribute", rules.manager_attribute},
            {"member_attribute", rules.member_attribute},
            {"id_attribute", rules.id_attribute},
            {"group_attributes", rules.group_attributes},
            {"apps", std::move(apps)}};
}

Result<SourceRules> rules_from_json(const json& doc) {
    try {
        SourceRules rules;
        rules.source = doc.at("source").get<std::string>();
        rules.attributes = doc.at("attributes").get<std::vector<std::pair<std::string, std::string>>>();
        rules.manager_attribute = doc.at("manager_attribute").get<std::string>();
        rules.member_attribute = doc.at("member_attribute").get<std::string>();
        rules.id_attribute = doc.at("id_attribute").get<std::string>();
        rules.group_attributes = doc.at("group_attributes").get<std::vector<std::pair<std::string, std::string>>>();
        for (const auto& app : doc.at("apps")) {
            AppAssignmentRule rule;
            rule.app = app.at("app").get<std::string>();
            rule.group_dn = app.at("group_dn").get<std::string>();
            rule.role_attribute = app.value("role_attribute", "");
            if (app.contains("role")) rule.role = app.at("role").get<std::string>();
            rules.apps.push_back(std::move(rule));
        }
        return rules;
    } catch (const json::exception& e) {
        return make_error(std::string("the stored source rules are not readable: ") + e.what(), ErrorKind::Permanent);
    }
}

DirectoryModel::DirectoryModel(SourceRules rules) { set_rules(std::move(rules)); }

void DirectoryModel::set_rules(SourceRules rules) {
    rules_ = std::move(rules);
    for (auto& app : rules_.apps) {
        app.group_dn = normalize_dn(app.group_dn);
        app.role_attribute = lower(app.role_attribute);
    }
    for (auto& [contract, attribute] : rules_.attributes) attribute = lower(attribute);
    for (auto& [contract, attribute] : rules_.group_attributes) attribute = lower(attribute);
    rules_.manager_attribute = lower(rules_.manager_attribute);
    rules_.id_attribute = lower(rules_.id_attribute);
    rules_.member_attribute = lower(rules_.member_attribute);
}

void DirectoryModel::restore_user(const std::string& id, StoredUser user) {
    ids_by_dn_[normalize_dn(user.dn)] = id;
    users_[id] = std::move(user);
}

void DirectoryModel::restore_group(const std::string& id, StoredGroup group) {
    ids_by_dn_[normalize_dn(group.dn)] = id;
    groups_[id] = std::move(group);
}

DirectoryModel::View DirectoryModel::view_of(const std::string& id, const AppAssignmentRule& app) const {
    View view;
    const auto user = users_.find(id);
    if (user == users_.end()) return view;
    view.exists = true;
    view.id = source_id_of(id);
    // Without its id attribute a user cannot be told to an app: it is in no app's scope.
    if (view.id.empty()) return view;
    const auto group_id = ids_by_dn_.find(app.group_dn);
    const std::string dn = normalize_dn(user->second.dn);
    if (group_id != ids_by_dn_.end()) {
        const auto group = groups_.find(group_id->second);
        view.assigned = group != groups_.end() && group->second.member_dns.count(dn) > 0;
    }
    for (const auto& [gid, group] : groups_) {
        if (group.member_dns.count(dn) && assigned_to(group, app)) {
            view.via_group = true;
            break;
        }
    }
    if (app.role) {
        view.role = app.role;
    } else if (!app.role_attribute.empty()) {
        const auto role = user->second.roles.find(app.role_attribute);
        if (role != user->second.roles.end()) view.role = role->second;
    }
    view.attributes = user->second.attributes;
    if (!user->second.manager_dn.empty()) {
        const auto manager = ids_by_dn_.find(user->second.manager_dn);
        if (manager != ids_by_dn_.end() && users_.count(manager->second)) {
            const auto manager_id = source_id_of(manager->second);
            if (!manager_id.empty()) view.attributes["manager"] = manager_id;
        }
    }
    if (!view.attributes.contains("accountEnabled")) view.attributes["accountEnabled"] = true;
    return view;
}

std::map<std::string, DirectoryModel::View> DirectoryModel::views_of(const std::string& id) const {
    std::map<std::string, View> out;
    for (const auto& app : rules_.apps) out[app.app] = view_of(id, app);
    return out;
}

std::string DirectoryModel::source_id_of(const std::string& key) const {
    if (rules_.id_attribute == "entryuuid") return key;
    const auto user = users_.find(key);
    return user == users_.end() ? std::string() : user->second.source_id;
}

bool DirectoryModel::assigned_to(const StoredGroup& group, const AppAssignmentRule& app) const {
    const auto app_group_id = ids_by_dn_.find(app.group_dn);
    if (app_group_id == ids_by_dn_.end()) return false;
    const auto app_group = groups_.find(app_group_id->second);
    return app_group != groups_.end() && &app_group->second != &group &&
           app_group->second.member_dns.count(normalize_dn(group.dn)) > 0;
}

DirectoryModel::GroupView DirectoryModel::group_view_of(const std::string& id, const AppAssignmentRule& app) const {
    GroupView view;
    const auto group = groups_.find(id);
    if (group == groups_.end()) return view;
    view.exists = true;
    view.assigned = assigned_to(group->second, app);
    if (!view.assigned) return view;
    if (app.role) {
        view.role = app.role;
    } else if (!app.role_attribute.empty()) {
        const auto role = group->second.roles.find(app.role_attribute);
        if (role != group->second.roles.end()) view.role = role->second;
    }
    view.attributes = group->second.attributes;
    // Nested groups are not expanded (as in Entra): only users are members in the app.
    for (const auto& dn : group->second.member_dns) {
        const auto member = ids_by_dn_.find(dn);
        if (member == ids_by_dn_.end() || !users_.count(member->second)) continue;
        if (auto member_id = source_id_of(member->second); !member_id.empty()) view.members.insert(std::move(member_id));
    }
    return view;
}

std::map<std::string, DirectoryModel::GroupView> DirectoryModel::group_views_of(const std::string& id) const {
    std::map<std::string, GroupView> out;
    for (const auto& app : rules_.apps) out[app.app] = group_view_of(id, app);
    return out;
}

void DirectoryModel::touch_user(Before& before, const std::string& id) {
    if (before.users.count(id)) return;
    before.users[id] = views_of(id);
    const auto user = users_.find(id);
    before_versions_[id] = user != users_.end() ? user->second.version : 0;
}

void DirectoryModel::touch_group(Before& before, const std::string& id) {
    if (before.groups.count(id)) return;
    before.groups[id] = group_views_of(id);
    const auto group = groups_.find(id);
    before_versions_[id] = group != groups_.end() ? group->second.version : 0;
}

void DirectoryModel::touch_members(Before& before, const std::set<std::string>& dns, bool app_group) {
    for (const auto& dn : dns) {
        const auto id = ids_by_dn_.find(dn);
        if (id == ids_by_dn_.end()) continue;
        if (users_.count(id->second)) {
            touch_user(before, id->second);
            continue;
        }
        const auto group = groups_.find(id->second);
        if (!app_group || group == groups_.end()) continue;
        // A group joining or leaving an app group: it and its members gain or lose the app.
        touch_group(before, id->second);
        for (const auto& member : group->second.member_dns) {
            const auto uid = ids_by_dn_.find(member);
            if (uid != ids_by_dn_.end() && users_.count(uid->second)) touch_user(before, uid->second);
        }
    }
}

std::vector<Event> DirectoryModel::events_for(const std::string& id, const std::map<std::string, View>& before,
                                              std::int64_t change_micros) {
    std::vector<Event> out;
    const auto after = views_of(id);
    const auto user = users_.find(id);
    std::int64_t version = 0;
    const std::int64_t base = change_micros > 0 ? change_micros : change_time_of(id);
    auto next_version = [&](std::int64_t last) {
        if (version == 0) version = std::max(base, last + 1);
        return version;
    };
    const auto emit = [&](const AppAssignmentRule& app, const View& b, const View& a, EventType type) {
        const std::int64_t last = before_versions_.count(id) ? before_versions_.at(id) : 0;
        const auto& shown = a.exists && !a.id.empty() ? a : b;
        Event event;
        event.version = next_version(last);
        event.source = rules_.source;
        event.type = type;
        event.app = app.app;
        event.object_type = ObjectType::User;
        event.object_id = shown.id;
        event.subject = "user/" + shown.id;
        if (base > 0) event.time = rfc3339(base);
        event.attributes = shown.attributes;
        event.role = shown.role;
        std::string suffix(to_string(type));
        suffix = suffix.substr(suffix.rfind('.') + 1);
        event.id = "ldap:" + shown.id + ":" + std::to_string(event.version) + ":" + app.app + ":" + suffix;
        out.push_back(std::move(event));
    };
    const auto decide = [&](const AppAssignmentRule& app, const View& b, const View& a) {
        std::optional<EventType> type;
        if (!b.assigned && a.assigned) {
            type = EventType::UserAssigned;
        } else if (b.assigned && !a.assigned) {
            type = a.exists ? EventType::UserUnassigned : EventType::UserDeleted;
        } else if (b.assigned && a.assigned) {
            if (b.role != a.role) {
                type = EventType::UserAssigned;
            } else if (b.attributes != a.attributes) {
                type = EventType::UserUpdated;
            }
        } else if (a.via_group && (!b.via_group || b.attributes != a.attributes)) {
            // In scope through an assigned group: the bridge provisions it once it knows both the
            // membership and this snapshot.
            type = EventType::UserUpdated;
        } else if (b.via_group && !a.exists) {
            type = EventType::UserDeleted;
        }
        if (!type) return;
        emit(app, b, a, *type);
        // Unassigned directly but still in scope through an assigned group, with new attributes:
        // the unassignment changes nothing of the account, so the attributes go as an update.
        if (*type == EventType::UserUnassigned && a.via_group && b.attributes != a.attributes) {
            emit(app, b, a, EventType::UserUpdated);
        }
    };
    for (const auto& app : rules_.apps) {
        const auto b = before.count(app.app) ? before.at(app.app) : View{};
        const auto& a = after.at(app.app);
        if (b.exists && a.exists && !b.id.empty() && !a.id.empty() && b.id != a.id) {
            // The user's id attribute changed: to the app that is another object. The old one
            // leaves (as if unassigned), the new one arrives.
            View left = b;
            left.assigned = left.via_group = false;
            decide(app, b, left);
            decide(app, View{}, a);
        } else {
            decide(app, b, a);
        }
    }
    if (version != 0 && user != users_.end()) {
        user->second.version = version;
        dirty_.insert(id);
    }
    return out;
}

std::vector<Event> DirectoryModel::group_events_for(const std::string& id, const std::map<std::string, GroupView>& before,
                                                    std::int64_t change_micros) {
    // One event carries at most this many members, so that it stays far below the bridge's
    // worker.max_event_bytes (1 MiB by default) whatever the group's size.
    constexpr std::size_t kMembersPerEvent = 5000;
    std::vector<Event> out;
    const auto after = group_views_of(id);
    const auto group = groups_.find(id);
    const std::int64_t base = change_micros > 0 ? change_micros : group_change_time_of(id);
    const std::int64_t last = before_versions_.count(id) ? before_versions_.at(id) : 0;
    const std::int64_t version = std::max(base, last + 1);
    bool sent = false;
    auto make = [&](const std::string& app, EventType type, const GroupView& shown, std::string suffix = {}) -> Event& {
        sent = true;
        Event event;
        event.version = version;
        event.source = rules_.source;
        event.type = type;
        event.app = app;
        event.object_type = ObjectType::Group;
        event.object_id = id;
        event.subject = "group/" + id;
        if (base > 0) event.time = rfc3339(base);
        event.attributes = shown.attributes;
        event.role = shown.role;
        if (suffix.empty()) {
            suffix = std::string(to_string(type));
            suffix = suffix.substr(suffix.rfind('.') + 1);
        }
        event.id = "ldap:" + id + ":" + std::to_string(version) + ":" + app + ":" + suffix;
        out.push_back(std::move(event));
        return out.back();
    };
    auto members = [&](const std::string& app, EventType type, const GroupView& shown, const std::vector<std::string>& ids) {
        const std::string kind = type == EventType::GroupMembersAdded ? "added" : "removed";
        for (std::size_t at = 0, part = 0; at < ids.size(); at += kMembersPerEvent, ++part) {
            auto& event = make(app, type, shown, part == 0 ? kind : kind + "-" + std::to_string(part + 1));
            const auto end = std::min(ids.size(), at + kMembersPerEvent);
            event.members.assign(ids.begin() + static_cast<std::ptrdiff_t>(at), ids.begin() + static_cast<std::ptrdiff_t>(end));
        }
    };
    for (const auto& app : rules_.apps) {
        const auto b = before.count(app.app) ? before.at(app.app) : GroupView{};
        const auto& a = after.at(app.app);
        if (!b.assigned && a.assigned) {
            make(app.app, EventType::GroupAssigned, a);
            members(app.app, EventType::GroupMembersAdded, a, {a.members.begin(), a.members.end()});
        } else if (b.assigned && !a.assigned) {
            make(app.app, a.exists ? EventType::GroupUnassigned : EventType::GroupDeleted, b);
        } else if (b.assigned && a.assigned) {
            if (b.role != a.role) {
                make(app.app, EventType::GroupAssigned, a);
            } else if (b.attributes != a.attributes) {
                make(app.app, EventType::GroupUpdated, a);
            }
            std::vector<std::string> added, removed;
            std::set_difference(a.members.begin(), a.members.end(), b.members.begin(), b.members.end(),
                                std::back_inserter(added));
            std::set_difference(b.members.begin(), b.members.end(), a.members.begin(), a.members.end(),
                                std::back_inserter(removed));
            members(app.app, EventType::GroupMembersAdded, a, added);
            members(app.app, EventType::GroupMembersRemoved, a, removed);
        }
    }
    if (sent && group != groups_.end()) {
        group->second.version = version;
        dirty_.insert(id);
    }
    return out;
}

std::vector<Event> DirectoryModel::judge(const Before& before, std::int64_t change_micros) {
    std::vector<Event> out;
    const auto append = [&out](std::vector<Event> events) {
        out.insert(out.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    };
    for (const auto& [id, views] : before.users) append(events_for(id, views, change_micros));
    for (const auto& [id, views] : before.groups) append(group_events_for(id, views, change_micros));
    before_versions_.clear();
    return out;
}

std::int64_t DirectoryModel::change_time_of(const std::string& id) const {
    const auto user = users_.find(id);
    if (user == users_.end()) return 0;
    std::int64_t latest = user->second.changed;
    const auto dn = normalize_dn(user->second.dn);
    for (const auto& app : rules_.apps) {
        const auto group_id = ids_by_dn_.find(app.group_dn);
        if (group_id == ids_by_dn_.end()) continue;
        const auto group = groups_.find(group_id->second);
        if (group != groups_.end() && group->second.member_dns.count(dn)) latest = std::max(latest, group->second.changed);
    }
    return latest;
}

std::int64_t DirectoryModel::group_change_time_of(const std::string& id) const {
    const auto group = groups_.find(id);
    if (group == groups_.end()) return 0;
    std::int64_t latest = group->second.changed;
    for (const auto& app : rules_.apps) {
        const auto app_group_id = ids_by_dn_.find(app.group_dn);
        if (app_group_id == ids_by_dn_.end() || !assigned_to(group->second, app)) continue;
        latest = std::max(latest, groups_.at(app_group_id->second).changed);
    }
    return latest;
}

bool DirectoryModel::is_app_group(const std::string& normalized_dn) const {
    return std::any_of(rules_.apps.begin(), rules_.apps.end(),
                       [&](const AppAssignmentRule& app) { return app.group_dn == normalized_dn; });
}

std::vector<Event> DirectoryModel::upsert(const std::string& id, EntryKind kind, const std::string& dn,
                                          const Attributes& attributes, std::int64_t change_micros) {
    const std::string normalized = normalize_dn(dn);
    const bool is_user = kind == EntryKind::User;
    const auto old_user = users_.find(id);
    const auto old_group = groups_.find(id);
    std::string old_dn;
    if (old_user != users_.end()) old_dn = normalize_dn(old_user->second.dn);
    if (old_group != groups_.end()) old_dn = normalize_dn(old_group->second.dn);
    std::set<std::string> new_members;
    if (!is_user) {
        const auto members = attributes.find(rules_.member_attribute);
        if (members != attributes.end()) {
            for (const auto& member : members->second) new_members.insert(normalize_dn(member));
        }
    }

    // Outside a refresh, what may change is judged before and after: a user, its reports (their
    // manager resolves through its DN) and the groups listing it; a group, and its members before
    // and after; for an app group, also the groups among its members, and theirs.
    Before before;
    if (refreshing_) {
        present_.insert(id);
    } else if (is_user) {
        touch_user(before, id);
        if (old_group != groups_.end()) touch_group(before, id);
        for (const auto& [uid, user] : users_) {
            if (!user.manager_dn.empty() && (user.manager_dn == normalized || user.manager_dn == old_dn)) {
                touch_user(before, uid);
            }
        }
        for (const auto& [gid, group] : groups_) {
            if (group.member_dns.count(normalized) || (!old_dn.empty() && group.member_dns.count(old_dn))) {
                touch_group(before, gid);
            }
        }
    } else {
        touch_group(before, id);
        if (old_user != users_.end()) touch_user(before, id);
        std::set<std::string> dns = new_members;
        if (old_group != groups_.end()) dns.insert(old_group->second.member_dns.begin(), old_group->second.member_dns.end());
        touch_members(before, dns, is_app_group(normalized) || is_app_group(old_dn));
    }

    // An entry that moved between the users and the groups is no longer what it was.
    if (is_user && old_group != groups_.end()) groups_.erase(old_group);
    if (!is_user && old_user != users_.end()) users_.erase(old_user);
    // Another entry may hold the old DN by now (re-created under it earlier in a refresh): then
    // the DN, its memberships and reports are that entry's.
    const auto old_owner = ids_by_dn_.find(old_dn);
    if (!old_dn.empty() && old_dn != normalized && old_owner != ids_by_dn_.end() && old_owner->second == id) {
        ids_by_dn_.erase(old_owner);
        // A rename keeps the entry's memberships and reports, as the server's referential
        // integrity does (its rewrite of the groups' member values is never sent to a consumer).
        for (auto& [gid, group] : groups_) {
            if (group.member_dns.erase(old_dn) > 0) {
                group.member_dns.insert(normalized);
                dirty_.insert(gid);
            }
        }
        for (auto& [uid, user] : users_) {
            if (user.manager_dn == old_dn) {
                user.manager_dn = normalized;
                dirty_.insert(uid);
            }
        }
    }
    ids_by_dn_[normalized] = id;
    dirty_.insert(id);
    if (is_user) {
        StoredUser& user = users_[id];
        user.dn = dn;
        user.changed = std::max(user.changed, change_micros);
        user.attributes = json::object();
        for (const auto& [contract, attribute] : rules_.attributes) {
            if (const auto* value = first_value(attributes, attribute)) user.attributes[contract] = *value;
        }
        if (rules_.id_attribute != "entryuuid") {
            const auto* source_id = first_value(attributes, rules_.id_attribute);
            user.source_id = source_id ? *source_id : std::string();
        } else {
            user.source_id.clear();
        }
        const auto* manager = first_value(attributes, rules_.manager_attribute);
        user.manager_dn = manager ? normalize_dn(*manager) : std::string();
        user.roles.clear();
        for (const auto& app : rules_.apps) {
            if (app.role_attribute.empty()) continue;
            if (const auto* role = first_value(attributes, app.role_attribute)) user.roles[app.role_attribute] = *role;
        }
    } else {
        StoredGroup& group = groups_[id];
        group.dn = dn;
        group.member_dns = std::move(new_members);
        group.changed = std::max(group.changed, change_micros);
        group.attributes = json::object();
        for (const auto& [contract, attribute] : rules_.group_attributes) {
            if (const auto* value = first_value(attributes, attribute)) group.attributes[contract] = *value;
        }
        group.roles.clear();
        for (const auto& app : rules_.apps) {
            if (app.role_attribute.empty()) continue;
            if (const auto* role = first_value(attributes, app.role_attribute)) group.roles[app.role_attribute] = *role;
        }
    }
    if (refreshing_) return {};
    return judge(before, change_micros);
}

std::vector<Event> DirectoryModel::remove(const std::string& id, EntryKind kind, std::int64_t change_micros) {
    const auto user = kind == EntryKind::User ? users_.find(id) : users_.end();
    const auto group = kind == EntryKind::Group ? groups_.find(id) : groups_.end();
    if (user == users_.end() && group == groups_.end()) return {};
    const std::string dn = normalize_dn(user != users_.end() ? user->second.dn : group->second.dn);
    // An entry re-created under the same DN (a new entryUUID) owns it now: removing the old one
    // must leave the DN, its memberships and its reports to the new one.
    const auto owner = ids_by_dn_.find(dn);
    const bool owns_dn = owner != ids_by_dn_.end() && owner->second == id;
    Before before;
    if (!refreshing_) {
        if (user != users_.end()) {
            touch_user(before, id);
            if (owns_dn) {
                for (const auto& [uid, other] : users_) {
                    if (other.manager_dn == dn) touch_user(before, uid);
                }
                for (const auto& [gid, g] : groups_) {
                    if (g.member_dns.count(dn)) touch_group(before, gid);
                }
            }
        } else {
            touch_group(before, id);
            touch_members(before, group->second.member_dns, is_app_group(dn));
        }
    }
    if (user != users_.end()) {
        // The server drops a deleted entry from its groups without telling a sync consumer.
        if (owns_dn) {
            for (auto& [gid, g] : groups_) {
                if (g.member_dns.erase(dn) > 0) dirty_.insert(gid);
            }
        }
        users_.erase(user);
    } else {
        groups_.erase(group);
    }
    if (owns_dn) ids_by_dn_.erase(owner);
    dirty_.erase(id);
    removed_.insert(id);
    if (refreshing_) return {};
    return judge(before, change_micros);
}

void DirectoryModel::begin_refresh() {
    // A refresh cut short (the connection was lost) goes on from the same "before": what it
    // had read is judged with what the next one reads.
    present_.clear();
    if (refreshing_) return;
    refreshing_ = true;
    present_.clear();
    refresh_before_ = {};
    for (const auto& [id, user] : users_) touch_user(refresh_before_, id);
    for (const auto& [id, group] : groups_) touch_group(refresh_before_, id);
}

void DirectoryModel::mark_present(const std::string& id) {
    if (refreshing_) present_.insert(id);
}

std::vector<std::pair<std::string, EntryKind>> DirectoryModel::unseen(bool users, bool groups) const {
    std::vector<std::pair<std::string, EntryKind>> out;
    if (!refreshing_) return out;
    if (users) {
        for (const auto& [id, user] : users_) {
            if (!present_.count(id)) out.emplace_back(id, EntryKind::User);
        }
    }
    if (groups) {
        for (const auto& [id, group] : groups_) {
            if (!present_.count(id)) out.emplace_back(id, EntryKind::Group);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<Event> DirectoryModel::end_refresh() {
    refreshing_ = false;
    auto before = std::move(refresh_before_);
    refresh_before_ = {};
    for (const auto& [id, user] : users_) before.users.try_emplace(id);
    for (const auto& [id, group] : groups_) before.groups.try_emplace(id);
    present_.clear();
    return judge(before, 0);
}

std::set<std::string> DirectoryModel::take_dirty() {
    std::set<std::string> out;
    out.swap(dirty_);
    return out;
}

std::set<std::string> DirectoryModel::take_removed() {
    std::set<std::string> out;
    out.swap(removed_);
    return out;
}

}  // namespace provbridge::transforms::directory
