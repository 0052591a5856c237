#include "provbridge/producers/ldap_source.hpp"

#include <algorithm>
#include <future>

#include "provbridge/producers/event_file.hpp"
#include "provbridge/producers/producer.hpp"

namespace provbridge::producers {
namespace {

using nlohmann::json;
namespace dir = transforms::directory;

constexpr const char* kUsers = "users";
constexpr const char* kGroups = "groups";
// The longest wait for one message of a confirmation search or a listing.
constexpr std::chrono::milliseconds kLookupTimeout{30000};

std::int64_t csn_of(const ldap::Attributes& attributes) {
    for (const char* name : {"entrycsn", "modifytimestamp"}) {
        const auto found = attributes.find(name);
        if (found == attributes.end() || found->second.empty()) continue;
        if (auto micros = dir::change_time_micros(found->second.front())) return *micros;
    }
    return 0;
}

// The latest csn= in a cookie ("rid=000,csn=20261202142130.176426Z#000000#000#000000", several
// separated by ';' with more than one provider); 0 when it names none.
std::int64_t csn_of_cookie(const std::optional<std::string>& cookie) {
    if (!cookie) return 0;
    std::int64_t latest = 0;
    for (std::size_t at = cookie->find("csn="); at != std::string::npos; at = cookie->find("csn=", at + 4)) {
        if (auto micros = dir::change_time_micros(cookie->substr(at + 4))) latest = std::max(latest, *micros);
    }
    return latest;
}

}  // namespace

Result<bool> KafkaEventSink::send(const std::vector<Event>& events) {
    const std::vector<Header> headers{{"content-type", std::string(kCloudEventsContentType)}};
    std::vector<std::future<Result<DeliveryReport>>> acks;
    acks.reserve(events.size());
    for (const auto& event : events) acks.push_back(producer_.send(topic_, record_key(event), to_json(event).dump(), headers));
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (auto& ack : acks) {
        if (ack.wait_until(deadline) != std::future_status::ready) {
            return make_error("Kafka did not acknowledge the events within " + std::to_string(timeout_.count()) + " ms",
                              ErrorKind::Transient);
        }
        auto report = ack.get();
        if (!report.ok()) return report.error();
    }
    return true;
}

dir::SourceRules source_rules(const LdapSourceConfig& config) {
    dir::SourceRules rules;
    rules.source = config.source;
    rules.manager_attribute = config.manager_attribute;
    rules.id_attribute = config.id_attribute;
    rules.member_attribute = config.member_attribute;
    for (auto [contract, attribute] : dir::default_attribute_map()) {
        const auto over = config.attributes.find(contract);
        if (over != config.attributes.end()) attribute = over->second;
        if (!attribute.empty()) rules.attributes.emplace_back(contract, attribute);
    }
    for (const auto& [contract, attribute] : config.attributes) {
        const bool known = std::any_of(rules.attributes.begin(), rules.attributes.end(),
                                       [&](const auto& a) { return a.first == contract; });
        const bool removed = attribute.empty();
        if (!known && !removed && contract != "manager") rules.attributes.emplace_back(contract, attribute);
    }
    for (const auto& a : config.assignments) rules.apps.push_back({a.app, a.group_dn, a.role, a.role_attribute});
    return rules;
}

dir::SourceRules legacy_source_rules(const LdapSourceConfig& config) {
    auto rules = source_rules(config);
    rules.id_attribute = "entryUUID";
    for (auto& [contract, attribute] : rules.attributes) {
        if (contract == "displayName" && attribute == "displayname|cn") attribute = "displayname";
        if (contract == "department" && attribute == "departmentnumber|ou") attribute = "departmentnumber";
    }
    return rules;
}

LdapSource::LdapSource(LdapSourceConfig config, std::string password, EventSink& sink, SourceProgressStore& progress,
                       const Clock& clock)
    : config_(std::move(config)),
      password_(std::move(password)),
      sink_(sink),
      progress_(progress),
      clock_(clock),
      model_(source_rules(config_)) {}

std::chrono::milliseconds LdapSource::backoff(int failures) {
    std::chrono::milliseconds wait{500};
    for (int i = 1; i < failures && wait < std::chrono::seconds(30); ++i) wait *= 2;
    return std::min<std::chrono::milliseconds>(wait, std::chrono::seconds(30));
}

Result<bool> LdapSource::load() {
    auto stored = progress_.load();
    if (!stored.ok()) return stored.error();
    cookies_ = stored->cookies;
    for (const auto& doc : stored->outbox) {
        auto event = parse_structured_event(doc.dump());
        if (!event.ok()) return make_error("a stored outbox event is not readable: " + event.error().message, ErrorKind::Permanent);
        unsent_.push_back(std::move(*event));
    }
    outbox_stored_ = !stored->outbox.empty();
    rules_unsaved_ = !stored->rules;
    if (stored->rules || !stored->objects.empty()) {
        // State kept before the rules were stored with it was judged under the rules of then.
        auto old_rules = stored->rules ? dir::rules_from_json(*stored->rules)
                                       : Result<dir::SourceRules>(legacy_source_rules(config_));
        if (!old_rules.ok()) return old_rules.error();
        dir::DirectoryModel old_model(std::move(*old_rules));
        if (dir::to_json(old_model.rules()) != dir::to_json(model_.rules())) {
            // What is stored was judged under other rules (assignments, attribute map, ids): a
            // full refresh judges every entry again, from the old rules' view to the new rules'.
            model_ = std::move(old_model);
            rejudge_ = true;
            cookies_.clear();
        }
    }
    for (const auto& [id, doc] : stored->objects) {
        const auto kind = doc.value("kind", "");
        if (kind == "user") {
            auto user = dir::user_from_json(doc);
            if (!user.ok()) return user.error();
            model_.restore_user(id, std::move(*user));
        } else if (kind == "group") {
            auto group = dir::group_from_json(doc);
            if (!group.ok()) return group.error();
            model_.restore_group(id, std::move(*group));
        } else {
            return make_error("stored directory object " + id + " has no kind", ErrorKind::Permanent);
        }
    }
    return true;
}

void LdapSource::disconnect() {
    connection_.reset();
    stats_.connected = false;
}

Result<bool> LdapSource::connect() {
    if (clock_.steady_now() < next_attempt_) clock_.wait_until(next_attempt_);
    ldap::ConnectOptions options;
    options.url = config_.url;
    options.start_tls = config_.start_tls;
    options.verify_tls = config_.tls_verify;
    options.ca_file = config_.ca_file;
    options.bind_dn = config_.bind_dn;
    options.password = password_;
    auto opened = ldap::SyncConnection::open(options);
    auto fail = [&](const Error& error) -> Result<bool> {
        ++failures_;
        next_attempt_ = clock_.steady_now() + backoff(failures_);
        disconnect();
        return error;
    };
    if (!opened.ok()) return fail(opened.error());
    connection_ = std::move(*opened);
    search_names_.clear();
    model_.begin_refresh();
    if (rejudge_) model_.set_rules(source_rules(config_));
    refreshing_searches_.clear();
    // A refresh cut short is read again from the stored cookies: what it said is said again.
    suspects_.clear();
    new_cookies_.clear();
    bool full = false;
    for (const std::string name : {kUsers, kGroups}) {
        const auto spec = search_spec(name);
        const auto cookie = cookies_.find(name);
        std::optional<std::string> from;
        if (cookie != cookies_.end() && !cookie->second.empty()) from = cookie->second;
        auto started = connection_->start(spec, from);
        if (!started.ok()) return fail(started.error());
        search_names_[*started] = name;
        refreshing_searches_.insert(name);
        // Without a cookie the server sends everything there is: what it does not send is gone.
        sweep_[name] = !from.has_value();
        full = full || !from.has_value();
    }
    ++stats_.connections;
    if (full) ++stats_.full_refreshes;
    stats_.connected = true;
    stats_.refreshing = true;
    return true;
}

std::vector<Event> LdapSource::deleted(const std::string& search, const std::string& id, std::int64_t change_micros) {
    const auto kind = search == kGroups ? dir::EntryKind::Group : dir::EntryKind::User;
    // In a refresh, a deletion is what the server infers: a modified entry its session log names
    // that it does not find in this search any more, or one the present phase left out. It is
    // confirmed with the directory when the refresh ends; in the persist phase, the server saw
    // the entry deleted or leave the search, and says so as it happens.
    if (refreshing_searches_.count(search)) {
        suspects_.insert(id);
        return {};
    }
    return model_.remove(id, kind, change_micros);
}

Result<bool> LdapSource::confirm_deletions() {
    const auto unseen = model_.unseen(sweep_[kUsers], sweep_[kGroups]);
    for (const auto& [name, kind] : {std::pair{std::string(kUsers), dir::EntryKind::User},
                                     std::pair{std::string(kGroups), dir::EntryKind::Group}}) {
        const auto known = [&, kind = kind](const std::string& id) {
            return kind == dir::EntryKind::User ? model_.users().count(id) > 0 : model_.groups().count(id) > 0;
        };
        // What the model holds as this search's kind and the refresh did not name. syncprov's
        // session log is shared by the searches: a deletion can come in the other search's
        // answer (and only there), so each id is taken for what the model holds it as.
        std::set<std::string> candidates;
        for (const auto& id : suspects_) {
            if (known(id) && !model_.named_in_refresh(id)) candidates.insert(id);
        }
        for (const auto& [id, unseen_kind] : unseen) {
            if (unseen_kind == kind) candidates.insert(id);
        }
        const auto spec = search_spec(name);
        if (!sweep_[name]) {
            // A resume answered from the session log names the deletions slapd knows of. It keeps
            // no other trace of a deleted entry, and its log lives in memory: after a restart of
            // slapd, a deletion made before it is named by nothing. A listing of what is there
            // finds it.
            auto listed = connection_->list(spec, kLookupTimeout);
            if (!listed.ok()) return listed.error();
            ++stats_.listings;
            const auto missing = [&](const auto& objects) {
                for (const auto& [id, object] : objects) {
                    if (!listed->count(id) && !model_.named_in_refresh(id)) candidates.insert(id);
                }
            };
            if (kind == dir::EntryKind::User) missing(model_.users()); else missing(model_.groups());
        }
        if (candidates.empty()) continue;
        // "Not found" must mean gone, not "not visible to this bind DN" (an ACL on entryUUID):
        // an entry the refresh named is looked up with them, and must be found.
        const auto named = [&](const auto& objects) {
            for (const auto& [id, object] : objects) {
                if (!candidates.count(id) && model_.named_in_refresh(id)) return std::optional<std::string>(id);
            }
            return std::optional<std::string>();
        };
        const auto canary = kind == dir::EntryKind::User ? named(model_.users()) : named(model_.groups());
        std::vector<std::string> asked(candidates.begin(), candidates.end());
        if (canary) asked.push_back(*canary);
        auto found = connection_->find(spec, asked, kLookupTimeout);
        if (!found.ok()) return found.error();
        if (canary && std::none_of(found->begin(), found->end(), [&](const auto& e) { return e.uuid == *canary; })) {
            return make_error("looking up the entries a refresh of " + spec.base_dn + " left out did not find " +
                                  *canary + ", which it named: the bind DN may not search entryUUID there (grant it "
                                  "search and read access to entryUUID); nothing is deleted until it can",
                              ErrorKind::Transient);
        }
        for (const auto& entry : *found) {
            if (!candidates.count(entry.uuid)) continue;
            // Still there: what the refresh should have named. Read as it is now.
            candidates.erase(entry.uuid);
            (void)model_.upsert(entry.uuid, kind, entry.dn, entry.attributes, csn_of(entry.attributes));
            ++stats_.deletions_refuted;
        }
        for (const auto& id : candidates) {
            (void)model_.remove(id, kind, 0);
            ++stats_.deletions_confirmed;
        }
    }
    suspects_.clear();
    return true;
}

ldap::SearchSpec LdapSource::search_spec(const std::string& name) const {
    // The change time comes from entryCSN (modifyTimestamp where there is none).
    std::vector<std::string> attributes{"*", "entryUUID", "entryCSN", "modifyTimestamp"};
    // An operational id attribute is only sent when named.
    if (config_.id_attribute != "entryUUID") attributes.push_back(config_.id_attribute);
    if (name == kGroups) return {config_.groups_base_dn, config_.groups_filter, attributes};
    return {config_.users_base_dn, config_.users_filter, attributes};
}

Result<bool> LdapSource::handle(const ldap::SyncMessage& m, std::vector<Event>& events) {
    const auto name_of = search_names_.find(m.search);
    const std::string name = name_of == search_names_.end() ? std::string() : name_of->second;
    if (m.cookie && !m.cookie->empty() && !name.empty()) new_cookies_[name] = *m.cookie;
    auto add = [&](std::vector<Event> more) {
        events.insert(events.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    };
    switch (m.kind) {
        case ldap::SyncMessage::Kind::Entry: {
            ++stats_.entries_read;
            const auto id = ldap::uuid_text(m.uuid);
            if (m.state == ldap::SyncState::Add || m.state == ldap::SyncState::Modify) {
                const auto kind = name == kGroups ? dir::EntryKind::Group : dir::EntryKind::User;
                add(model_.upsert(id, kind, m.dn, m.attributes, csn_of(m.attributes)));
            } else if (m.state == ldap::SyncState::Delete) {
                add(deleted(name, id, csn_of_cookie(m.cookie)));
            } else {
                model_.mark_present(id);
            }
            return true;
        }
        case ldap::SyncMessage::Kind::Ids:
            for (const auto& uuid : m.uuids) {
                if (m.deleted) {
                    add(deleted(name, ldap::uuid_text(uuid), csn_of_cookie(m.cookie)));
                } else {
                    model_.mark_present(ldap::uuid_text(uuid));
                }
            }
            return true;
        case ldap::SyncMessage::Kind::RefreshDone:
            sweep_[name] = sweep_[name] || m.present_phase;
            refreshing_searches_.erase(name);
            if (refreshing_searches_.empty()) {
                auto confirmed = confirm_deletions();
                if (!confirmed.ok()) {
                    // Not knowing is not "gone": the refresh is read again on a new connection.
                    ++failures_;
                    next_attempt_ = clock_.steady_now() + backoff(failures_);
                    disconnect();
                    return confirmed.error();
                }
                add(model_.end_refresh());
                // The new rules are stored with the state and events they led to.
                if (rejudge_) {
                    rejudge_ = false;
                    rules_unsaved_ = true;
                }
            }
            return true;
        case ldap::SyncMessage::Kind::Cookie:
            return true;
        case ldap::SyncMessage::Kind::Ended: {
            const Error why = m.error.value_or(make_error("the LDAP server ended the sync search"));
            if (m.refresh_required) {
                // Start this search again from nothing; the model keeps what it knows, so only
                // real differences come out of the full refresh.
                cookies_.erase(name);
                new_cookies_.erase(name);
                next_attempt_ = {};
                failures_ = 0;
            } else {
                ++failures_;
                next_attempt_ = clock_.steady_now() + backoff(failures_);
            }
            disconnect();
            return why;
        }
    }
    return true;
}

Result<bool> LdapSource::flush() {
    for (const auto& id : model_.take_removed()) pending_removed_.insert(id), pending_upserts_.erase(id);
    for (const auto& id : model_.take_dirty()) pending_upserts_.insert(id), pending_removed_.erase(id);
    SourceProgressDelta delta;
    for (const auto& [name, cookie] : new_cookies_) {
        const auto stored = cookies_.find(name);
        if (stored == cookies_.end() || stored->second != cookie) delta.cookies[name] = cookie;
    }
    for (const auto& id : pending_upserts_) {
        if (const auto user = model_.users().find(id); user != model_.users().end()) {
            auto doc = dir::to_json(user->second);
            doc["kind"] = "user";
            delta.upserted[id] = std::move(doc);
        } else if (const auto group = model_.groups().find(id); group != model_.groups().end()) {
            auto doc = dir::to_json(group->second);
            doc["kind"] = "group";
            delta.upserted[id] = std::move(doc);
        }
    }
    delta.removed = pending_removed_;
    // The rules go with the state they judged (a refresh always brings a cookie).
    if (rules_unsaved_ && !rejudge_ && !(delta.cookies.empty() && delta.upserted.empty() && delta.removed.empty())) {
        delta.rules = dir::to_json(model_.rules());
    }
    if (!unsent_.empty() && !outbox_stored_) {
        std::vector<json> outbox;
        outbox.reserve(unsent_.size());
        for (const auto& event : unsent_) outbox.push_back(to_json(event));
        delta.outbox = std::move(outbox);
    }
    // The state first, with the events it led to: once it is stored, they are never lost.
    if (!delta.empty()) {
        auto saved = progress_.save(delta);
        if (!saved.ok()) return saved.error();
        for (const auto& [name, cookie] : delta.cookies) cookies_[name] = cookie;
        pending_upserts_.clear();
        pending_removed_.clear();
        if (delta.outbox) outbox_stored_ = true;
        if (delta.rules) rules_unsaved_ = false;
    }
    if (!outbox_stored_) return true;
    if (!unsent_.empty()) {
        auto sent = sink_.send(unsent_);
        if (!sent.ok()) return sent.error();
        stats_.events_sent += static_cast<std::int64_t>(unsent_.size());
        unsent_.clear();
    }
    SourceProgressDelta cleared;
    cleared.outbox = std::vector<json>{};
    auto saved = progress_.save(cleared);
    if (!saved.ok()) return saved.error();
    outbox_stored_ = false;
    return true;
}

Result<bool> LdapSource::turn(std::chrono::milliseconds timeout) {
    // What an earlier turn could not send or store goes first: nothing newer may overtake it.
    if (!unsent_.empty() || outbox_stored_ || !pending_upserts_.empty() || !pending_removed_.empty()) {
        // Never half a refresh: what it read is judged, stored and sent once it is complete.
        if (refreshing_searches_.empty() && !model_.refreshing()) {
            auto flushed = flush();
            if (!flushed.ok()) {
                clock_.wait_until(clock_.steady_now() + backoff(++failures_));
                return flushed.error();
            }
        }
    }
    if (!connection_) {
        auto connected = connect();
        if (!connected.ok()) return connected.error();
    }
    auto messages = connection_->poll(timeout);
    if (!messages.ok()) {
        ++failures_;
        next_attempt_ = clock_.steady_now() + backoff(failures_);
        disconnect();
        return messages.error();
    }
    std::vector<Event> events;
    for (const auto& m : *messages) {
        auto handled = handle(m, events);
        if (!handled.ok()) {
            unsent_.insert(unsent_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
            return handled.error();
        }
    }
    unsent_.insert(unsent_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    stats_.refreshing = !refreshing_searches_.empty();
    if (!refreshing_searches_.empty()) return true;
    auto flushed = flush();
    if (!flushed.ok()) return flushed.error();
    if (!messages->empty()) failures_ = 0;
    return true;
}

Result<bool> LdapSource::step(std::chrono::milliseconds timeout) {
    const std::int64_t sent_before = stats_.events_sent;
    auto result = turn(timeout);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch()).count();
    if (stats_.events_sent != sent_before) stats_.last_sent_ms = now_ms;
    if (!result.ok()) {
        ++stats_.failures;
        stats_.last_error = result.error().message;
        stats_.last_error_ms = now_ms;
    } else if (stats_.connected) {
        stats_.last_error.clear();
    }
    if (stats_.connected && !stats_.refreshing) stats_.ever_synced = true;
    return result;
}

json LdapSource::status(const std::function<std::string(std::string)>& redact) const {
    std::string state;
    if (!stats_.connected) {
        state = stats_.failures > 0 ? "reconnecting" : "connecting";
    } else if (stats_.refreshing) {
        state = stats_.ever_synced || !model_.users().empty() ? "refreshing" : "initial sync";
    } else {
        state = "following";
    }
    json doc = {{"source", config_.source},
                {"kind", "ldap"},
                {"url", config_.url},
                {"state", state},
                {"connected", stats_.connected},
                {"entries_read", stats_.entries_read},
                {"events_sent", stats_.events_sent},
                {"connections", stats_.connections},
                {"full_refreshes", stats_.full_refreshes},
                {"deletions_confirmed", stats_.deletions_confirmed},
                {"deletions_refuted", stats_.deletions_refuted},
                {"listings", stats_.listings},
                {"failures", stats_.failures},
                {"users", model_.users().size()},
                {"groups", model_.groups().size()},
                {"unsent", unsent_.size()},
                {"rules_changed", rejudge_},
                {"last_sent_ms", stats_.last_sent_ms}};
    if (!stats_.last_error.empty()) {
        doc["last_error"] = redact(stats_.last_error);
        doc["last_error_ms"] = stats_.last_error_ms;
    }
    return doc;
}

}  // namespace provbridge::producers
