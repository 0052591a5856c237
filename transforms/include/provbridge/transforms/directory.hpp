#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/event.hpp"

// What a followed directory's changes mean as contract events. The source (producers/) reads
// entries from the directory; this model keeps what it needs of them (users, the app groups'
// members, DNs) and, for each change, compares what every app should see of the users it
// touched before and after, so each event is a real difference: a user joining an app group is
// assigned to the app, leaving it unassigned, a changed mapped attribute updated, a deleted user
// deleted. A group that is itself a member of an app group is assigned to the app, as users and
// groups are in Entra: it is provisioned as a group, its membership changes are sent as deltas, and
// its members are in scope of the app through it (their snapshots are sent as updates). Pure: no
// I/O, no clock (versions come from the directory's change sequence numbers).
namespace provbridge::transforms::directory {

// Attribute values by lower-cased attribute name, as the directory sent them.
using Attributes = std::map<std::string, std::vector<std::string>>;

struct AppAssignmentRule {
    std::string app;
    std::string group_dn;                // the app group: its members are assigned to the app
    std::optional<std::string> role;     // fixed role; else role_attribute; else none
    std::string role_attribute;          // the user's attribute holding the role (lower-case)
};

// Which search sent an entry: the source's users search or its groups search.
enum class EntryKind { User, Group };

struct SourceRules {
    std::string source;                  // the events' CloudEvents source
    // Contract attribute (Entra name) ← directory attribute (lower-case), in output order; "a|b"
    // takes the first of a and b the entry has.
    std::vector<std::pair<std::string, std::string>> attributes;
    std::string manager_attribute = "manager";  // a DN, sent as the manager's source id
    std::string member_attribute = "member";    // a group's member DNs
    // The users' source ids: entryUUID (the entry's own, from the sync protocol) or the first
    // value of this attribute, which must stay the same for the life of the account.
    std::string id_attribute = "entryuuid";
    // A group's contract attributes ← directory attributes (lower-case).
    std::vector<std::pair<std::string, std::string>> group_attributes = {{"displayName", "cn"},
                                                                         {"description", "description"}};
    std::vector<AppAssignmentRule> apps;
};

// inetOrgPerson's attributes under the contract's names (uid → mailNickname, sn → surname, ...).
std::vector<std::pair<std::string, std::string>> default_attribute_map();

// "CN=App CRM, OU=Apps,DC=example" → "cn=app crm,ou=apps,dc=example": the comparable form.
std::string normalize_dn(const std::string& dn);

// An entryCSN ("20261202142130.176426Z#000000#000#000000") or a generalized time
// ("20261202142130Z") as microseconds since the epoch; nullopt when it is neither.
std::optional<std::int64_t> change_time_micros(const std::string& csn_or_time);

// What the model keeps of one entry; persisted by the source between runs.
struct StoredUser {
    std::string dn;
    nlohmann::json attributes = nlohmann::json::object();  // contract names, mapped values
    std::string manager_dn;                                 // normalized, "" when none
    std::map<std::string, std::string> roles;               // role_attribute → value
    std::int64_t changed = 0;                               // the entry's last change (entryCSN)
    std::int64_t version = 0;                               // of the last event about it
    std::string source_id;                                  // with an id_attribute: its value
};
struct StoredGroup {
    std::string dn;
    std::set<std::string> member_dns;                        // normalized
    nlohmann::json attributes = nlohmann::json::object();    // contract names, mapped values
    std::map<std::string, std::string> roles;                // role_attribute → value
    std::int64_t changed = 0;                                // the entry's last change (entryCSN)
    std::int64_t version = 0;                                // of the last event about it
};

nlohmann::json to_json(const StoredUser& user);
nlohmann::json to_json(const StoredGroup& group);
Result<StoredUser> user_from_json(const nlohmann::json& doc);
Result<StoredGroup> group_from_json(const nlohmann::json& doc);
// The rules as stored with the source's progress: a start under other rules re-judges every
// entry against what was sent under the stored ones.
nlohmann::json to_json(const SourceRules& rules);
Result<SourceRules> rules_from_json(const nlohmann::json& doc);

class DirectoryModel {
public:
    explicit DirectoryModel(SourceRules rules);

    // Restores what a previous run stored (before any change is applied).
    void restore_user(const std::string& id, StoredUser user);
    void restore_group(const std::string& id, StoredGroup group);

    // An entry was added or modified (a rename is a modify with a new DN). `change_micros`: when
    // the directory made the change (its entryCSN), 0 when unknown. An event's version is the
    // change's time, or when that is unknown (a refresh) the latest change time of the user and
    // of its app groups, and always above the user's previous version: the same directory state
    // gives the same versions and event ids, so events sent again after a crash are duplicates.
    std::vector<Event> upsert(const std::string& id, EntryKind kind, const std::string& dn, const Attributes& attributes,
                              std::int64_t change_micros);
    // An entry was deleted (or left the followed searches) as the `kind` search reports it. A
    // search speaks only for its own entries: slapd names an entry of the other search among a
    // search's deletions when it replays its session log (a modified entry it does not find in
    // this search's scope), so an id stored as the other kind is left alone.
    std::vector<Event> remove(const std::string& id, EntryKind kind, std::int64_t change_micros);

    // A refresh (initial, or after a restart) is judged as a whole: changes inside it are
    // collected and compared once, so a manager or an app group read after the users still
    // counts. Entries the refresh did not name (unseen) are not removed by the model: that is an
    // inference the source confirms with the directory first, then removes what is really gone.
    void begin_refresh();
    // New rules, set after begin_refresh: the refresh's "before" is what the old rules made of
    // the stored state, its "after" what the new ones make of the directory, so the refresh
    // sends what the change of rules means (assignments gained and lost, new attributes).
    void set_rules(SourceRules rules);
    // The rules as the model uses them (DNs normalized, attribute names lower-case).
    const SourceRules& rules() const { return rules_; }
    bool refreshing() const { return refreshing_; }
    void mark_present(const std::string& id);
    // The running refresh sent or named this entry.
    bool named_in_refresh(const std::string& id) const { return refreshing_ && present_.count(id) > 0; }
    // The users (with `users`) and groups (with `groups`) neither sent nor marked present in the
    // running refresh, by id: what a present phase or a refresh from no cookie implies is gone.
    std::vector<std::pair<std::string, EntryKind>> unseen(bool users, bool groups) const;
    std::vector<Event> end_refresh();

    const std::unordered_map<std::string, StoredUser>& users() const { return users_; }
    const std::unordered_map<std::string, StoredGroup>& groups() const { return groups_; }
    // The ids whose stored form changed since the last call (for the source to persist).
    std::set<std::string> take_dirty();
    // Ids removed since the last call.
    std::set<std::string> take_removed();

private:
    // What one app should see of one user.
    struct View {
        bool exists = false;
        bool assigned = false;    // directly: a member of the app group
        bool via_group = false;   // a member of a group assigned to the app
        std::string id;           // the user's source id ("" without its id attribute)
        std::optional<std::string> role;
        nlohmann::json attributes;
        bool operator==(const View&) const = default;
    };
    // What one app should see of one group.
    struct GroupView {
        bool exists = false;
        bool assigned = false;
        std::optional<std::string> role;
        nlohmann::json attributes;
        std::set<std::string> members;  // user ids, while assigned
    };
    using UserViews = std::map<std::string, std::map<std::string, View>>;        // user → app → view
    using GroupViews = std::map<std::string, std::map<std::string, GroupView>>;  // group → app → view
    // What a change may alter, seen before it: the users and groups it touches.
    struct Before {
        UserViews users;
        GroupViews groups;
    };

    View view_of(const std::string& id, const AppAssignmentRule& app) const;
    std::map<std::string, View> views_of(const std::string& id) const;  // by app
    GroupView group_view_of(const std::string& id, const AppAssignmentRule& app) const;
    std::map<std::string, GroupView> group_views_of(const std::string& id) const;
    bool assigned_to(const StoredGroup& group, const AppAssignmentRule& app) const;
    // A user's id in the events: its entryUUID, or its id attribute's value.
    std::string source_id_of(const std::string& key) const;
    void touch_user(Before& before, const std::string& id);
    void touch_group(Before& before, const std::string& id);
    // The users whose DNs are among `dns`, and for an app group, the members of its member groups.
    void touch_members(Before& before, const std::set<std::string>& dns, bool app_group);
    std::vector<Event> events_for(const std::string& id, const std::map<std::string, View>& before,
                                  std::int64_t change_micros);
    std::vector<Event> group_events_for(const std::string& id, const std::map<std::string, GroupView>& before,
                                        std::int64_t change_micros);
    std::vector<Event> judge(const Before& before, std::int64_t change_micros);
    std::int64_t change_time_of(const std::string& id) const;
    std::int64_t group_change_time_of(const std::string& id) const;
    bool is_app_group(const std::string& normalized_dn) const;

    SourceRules rules_;
    std::unordered_map<std::string, StoredUser> users_;
    std::unordered_map<std::string, StoredGroup> groups_;
    std::unordered_map<std::string, std::string> ids_by_dn_;  // normalized DN → id
    std::set<std::string> dirty_, removed_;
    bool refreshing_ = false;
    Before refresh_before_;  // views at begin_refresh
    std::set<std::string> present_;
    std::map<std::string, std::int64_t> before_versions_;  // of the users and groups being judged
};

}  // namespace provbridge::transforms::directory
