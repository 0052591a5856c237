#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "provbridge/core/result.hpp"
#include "provbridge/producers/ldap_sync.hpp"

// A connection to an LDAP server that follows searches with RFC 4533 content synchronisation
// (OpenLDAP's syncprov). libldap does the protocol; this wraps its handles (one RAII type per C
// handle, in the .cpp, so ldap.h stays there) and turns what the server sends into values.
namespace provbridge::producers::ldap {

struct ConnectOptions {
    std::string url;         // ldap://host:port or ldaps://host:port
    bool start_tls = false;  // ldap:// only: upgrade with StartTLS before binding
    bool verify_tls = true;  // the server's certificate must chain to a trusted CA and name the host
    std::string ca_file;     // PEM CA bundle; empty: the system's
    std::string bind_dn;     // empty: anonymous
    std::string password;    // never logged
    std::chrono::milliseconds timeout{10000};  // connect, StartTLS and bind
};

// Attribute values by attribute name, lower-cased (LDAP names are case-insensitive).
using Attributes = std::map<std::string, std::vector<std::string>>;

struct SearchSpec {
    std::string base_dn;
    std::string filter = "(objectClass=*)";
    std::vector<std::string> attributes;  // empty: all user attributes
};

// One thing the server said about a sync search, in the order it said it.
struct SyncMessage {
    enum class Kind {
        Entry,        // an entry with its sync state (Delete and Present carry no attributes)
        Ids,          // a set of entryUUIDs: present (deleted=false) or deleted
        RefreshDone,  // the refresh phase ended; what follows is the persist phase
        Cookie,       // only a new cookie
        Ended,        // the search ended (in refreshAndPersist, always with an error)
    };
    Kind kind = Kind::Cookie;
    int search = 0;  // the index start() returned
    // Entry
    SyncState state = SyncState::Present;
    Uuid uuid{};
    std::string dn;
    Attributes attributes;
    // Ids
    std::vector<Uuid> uuids;
    bool deleted = false;
    // RefreshDone: the refresh ended in the present phase, so every entry known from before and
    // neither sent nor named present was deleted.
    bool present_phase = false;
    // Ended: why. refresh_required: the server refused the cookie; start again without one.
    std::optional<Error> error;
    bool refresh_required = false;
    // The latest cookie when the message carried one: store it once what came before is safe.
    std::optional<std::string> cookie;
};

// An entry a plain search found: its entryUUID (text form), DN and attributes.
struct FoundEntry {
    std::string uuid;
    std::string dn;
    Attributes attributes;
};

class SyncConnection {
public:
    // Connects, upgrades with StartTLS when asked and binds. Auth when the bind is refused,
    // Transient when the server cannot be reached, Permanent for a bad URL or a TLS failure.
    static Result<std::unique_ptr<SyncConnection>> open(const ConnectOptions& options);
    ~SyncConnection();
    SyncConnection(const SyncConnection&) = delete;
    SyncConnection& operator=(const SyncConnection&) = delete;

    // Starts a sync search from `cookie` (none: from the beginning) and returns its index.
    // Permanent for a filter the client library refuses; the server's own refusals (no syncprov,
    // no such base) arrive as an Ended message.
    Result<int> start(const SearchSpec& spec, const std::optional<std::string>& cookie,
                      SyncMode mode = SyncMode::RefreshAndPersist);

    // Waits up to `timeout` for the first message of any search, then takes what else has
    // arrived, up to `max`. An empty list: nothing arrived. An error (Transient): the connection
    // is gone; open a new one and start again from the stored cookies.
    Result<std::vector<SyncMessage>> poll(std::chrono::milliseconds timeout, std::size_t max = 1000);

    // Which of `uuids` (entryUUIDs in text form) exist within `spec` now: a plain search (no sync
    // control) of spec's base with (&spec.filter(|(entryUUID=...)...)), in batches. Used to
    // confirm a deletion that was inferred before it is sent. The sync searches' messages that
    // arrive meanwhile wait in libldap for the next poll(). An error is a failure to know, never
    // "not found": Transient when the connection or the server failed, Permanent for a refusal
    // that will not change (no such base, a filter the server rejects).
    Result<std::vector<FoundEntry>> find(const SearchSpec& spec, const std::vector<std::string>& uuids,
                                         std::chrono::milliseconds timeout);

    // The entryUUIDs (text form) of every entry within `spec` now: a plain search returning
    // entryUUID alone. A resume from a cookie names only what changed since, and slapd keeps no
    // trace of a deletion but in its session log, which a restart loses: the listing finds what
    // it forgot. Errors as find(); Permanent when the bind DN's size limit cuts the listing short.
    Result<std::set<std::string>> list(const SearchSpec& spec, std::chrono::milliseconds timeout);

private:
    struct Handle;
    explicit SyncConnection(std::unique_ptr<Handle> handle, std::string url);
    static std::string scope_filter(const SearchSpec& spec);
    // One plain search (no sync control) under spec's base with `filter`, each entry handed to
    // `each`; `timeout` bounds the wait for every message.
    Result<bool> plain_search(const SearchSpec& spec, const std::string& filter,
                              const std::vector<std::string>& attribute_names, std::chrono::milliseconds timeout,
                              const std::function<void(FoundEntry)>& each);

    std::unique_ptr<Handle> handle_;
    std::string url_;
    int next_search_ = 0;
};

}  // namespace provbridge::producers::ldap
