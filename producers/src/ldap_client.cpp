#include "provbridge/producers/ldap_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <lber.h>
#include <ldap.h>

#include "provbridge/core/sigpipe_guard.hpp"

namespace provbridge::producers::ldap {
namespace {

// One RAII type per libldap handle.
struct LdapUnbind {
    void operator()(LDAP* ld) const { ldap_unbind_ext(ld, nullptr, nullptr); }
};
using LdapPtr = std::unique_ptr<LDAP, LdapUnbind>;
struct MessageFree {
    void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageFree>;
struct ControlFree {
    void operator()(LDAPControl* c) const { ldap_control_free(c); }
};
using ControlPtr = std::unique_ptr<LDAPControl, ControlFree>;
struct ControlsFree {
    void operator()(LDAPControl** c) const { ldap_controls_free(c); }
};
using ControlsPtr = std::unique_ptr<LDAPControl*, ControlsFree>;
struct MemFree {
    void operator()(char* s) const { ldap_memfree(s); }
};
using LdapText = std::unique_ptr<char, MemFree>;
struct ValuesFree {
    void operator()(berval** v) const { ldap_value_free_len(v); }
};
using ValuesPtr = std::unique_ptr<berval*, ValuesFree>;
struct BerValFree {
    void operator()(berval* bv) const { ber_bvfree(bv); }
};
using BerValPtr = std::unique_ptr<berval, BerValFree>;
// The attribute cursor points into its message, whose buffer it must not free.
struct AttributeCursorFree {
    void operator()(BerElement* ber) const { ber_free(ber, 0); }
};
using AttributeCursor = std::unique_ptr<BerElement, AttributeCursorFree>;

std::string text_of(const char* s) { return s ? std::string(s) : std::string(); }
std::string bytes_of(const berval& bv) { return bv.bv_val ? std::string(bv.bv_val, bv.bv_len) : std::string(); }

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string diagnostic_of(LDAP* ld) {
    char* raw = nullptr;
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &raw);
    LdapText diag(raw);
    return diag && *diag ? std::string(": ") + diag.get() : std::string();
}

// What a caller may do about an LDAP result code.
ErrorKind kind_of(int code) {
    switch (code) {
        case LDAP_INVALID_CREDENTIALS:
        case LDAP_INAPPROPRIATE_AUTH:
        case LDAP_INSUFFICIENT_ACCESS:
        case LDAP_STRONG_AUTH_REQUIRED:
        case LDAP_CONFIDENTIALITY_REQUIRED:
            return ErrorKind::Auth;
        case LDAP_SERVER_DOWN:
        case LDAP_TIMEOUT:
        case LDAP_CONNECT_ERROR:
        case LDAP_BUSY:
        case LDAP_UNAVAILABLE:
        case LDAP_TIMELIMIT_EXCEEDED:
        case LDAP_ADMINLIMIT_EXCEEDED:
        case LDAP_OTHER:
            return ErrorKind::Transient;
        default:
            return ErrorKind::Permanent;
    }
}

Error error_of(const std::string& what, int code, const std::string& detail = {}) {
    return make_error(what + ": " + ldap_err2string(code) + " (" + std::to_string(code) + ")" + detail, kind_of(code));
}

// A TLS handshake that failed: almost always a certificate that does not verify, which retrying
// will not change.
Error tls_refused(const std::string& what, const ConnectOptions& options, int code, const std::string& detail) {
    const std::string against = options.ca_file.empty() ? "the system's CAs" : options.ca_file;
    auto error = error_of(what + " failed: the TLS handshake did not complete: the server's certificate did not verify "
                                 "against " + against + " for the URL's host (or the server does not speak TLS there); "
                                 "set sources.ldap.ca_file to the CA that signed it",
                          code, detail);
    error.kind = ErrorKind::Permanent;
    return error;
}

timeval timeval_of(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

Attributes attributes_of(LDAP* ld, LDAPMessage* entry) {
    Attributes out;
    BerElement* raw_cursor = nullptr;
    LdapText name(ldap_first_attribute(ld, entry, &raw_cursor));
    AttributeCursor cursor(raw_cursor);
    for (; name; name.reset(ldap_next_attribute(ld, entry, cursor.get()))) {
        ValuesPtr values(ldap_get_values_len(ld, entry, name.get()));
        auto& into = out[lower(name.get())];
        for (berval** v = values.get(); v != nullptr && *v != nullptr; ++v) into.push_back(bytes_of(**v));
    }
    return out;
}

std::string_view value_of(const LDAPControl& control) {
    return {control.ldctl_value.bv_val, static_cast<std::size_t>(control.ldctl_value.bv_len)};
}

}  // namespace

struct SyncConnection::Handle {
    LdapPtr ld;
    struct Search {
        int index = 0;
        std::string base_dn;
        bool with_cookie = false;
    };
    std::map<int, Search> searches;  // by libldap message id
};

SyncConnection::SyncConnection(std::unique_ptr<Handle> handle, std::string url)
    : handle_(std::move(handle)), url_(std::move(url)) {}

SyncConnection::~SyncConnection() {
    if (!handle_ || !handle_->ld) return;
    // The server may be gone: writing the abandons (and the unbind) must not kill the process.
    SigpipeGuard guard;
    // Tell the server the searches are over instead of leaving them to the connection's end.
    for (const auto& [msgid, search] : handle_->searches) ldap_abandon_ext(handle_->ld.get(), msgid, nullptr, nullptr);
    handle_->ld.reset();  // the unbind, under the same guard
}

Result<std::unique_ptr<SyncConnection>> SyncConnection::open(const ConnectOptions& options) {
    SigpipeGuard guard;
    LDAP* raw = nullptr;
    int rc = ldap_initialize(&raw, options.url.c_str());
    LdapPtr ld(raw);
    if (rc != LDAP_SUCCESS || !ld) {
        return make_error("LDAP URL " + options.url + " is not usable: " + ldap_err2string(rc), ErrorKind::Permanent);
    }
    const int version = LDAP_VERSION3;
    ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    const timeval timeout = timeval_of(options.timeout);
    ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &timeout);
    ldap_set_option(ld.get(), LDAP_OPT_TIMEOUT, &timeout);
    const bool tls = options.start_tls || options.url.rfind("ldaps://", 0) == 0;
    if (tls) {
        const int require = options.verify_tls ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
        ldap_set_option(ld.get(), LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
        if (!options.ca_file.empty()) ldap_set_option(ld.get(), LDAP_OPT_X_TLS_CACERTFILE, options.ca_file.c_str());
        // The options above apply only to a TLS context made after them.
        const int is_server = 0;
        ldap_set_option(ld.get(), LDAP_OPT_X_TLS_NEWCTX, &is_server);
    }
    if (options.start_tls) {
        rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
            const auto diagnostic = diagnostic_of(ld.get());
            if (rc == LDAP_CONNECT_ERROR) return tls_refused("StartTLS with " + options.url, options, rc, diagnostic);
            return error_of("StartTLS with " + options.url + " failed", rc, diagnostic);
        }
    }
    berval password{static_cast<ber_len_t>(options.password.size()), const_cast<char*>(options.password.data())};
    rc = ldap_sasl_bind_s(ld.get(), options.bind_dn.empty() ? nullptr : options.bind_dn.c_str(), LDAP_SASL_SIMPLE,
                          &password, nullptr, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
        const std::string who = options.bind_dn.empty() ? "anonymously" : "as " + options.bind_dn;
        const auto diagnostic = diagnostic_of(ld.get());
        // On ldaps:// the handshake comes with the first operation: a server that was reached
        // (the TLS layer left a diagnostic) but is "down" refused the handshake.
        if (tls && !options.start_tls && rc == LDAP_SERVER_DOWN && !diagnostic.empty()) {
            return tls_refused("connecting to " + options.url, options, rc, diagnostic);
        }
        return error_of("binding to " + options.url + " " + who + " failed", rc, diagnostic);
    }
    auto handle = std::make_unique<Handle>();
    handle->ld = std::move(ld);
    return std::unique_ptr<SyncConnection>(new SyncConnection(std::move(handle), options.url));
}

Result<int> SyncConnection::start(const SearchSpec& spec, const std::optional<std::string>& cookie, SyncMode mode) {
    SigpipeGuard guard;
    const std::string request = encode_sync_request(mode, cookie, false);
    berval value{static_cast<ber_len_t>(request.size()), const_cast<char*>(request.data())};
    LDAPControl* raw_control = nullptr;
    // Critical: a server without syncprov must refuse the search, not answer it as a plain one.
    int rc = ldap_control_create(LDAP_CONTROL_SYNC, 1, &value, 1, &raw_control);
    ControlPtr control(raw_control);
    if (rc != LDAP_SUCCESS) return error_of("building the sync request", rc);
    LDAPControl* server_controls[] = {control.get(), nullptr};
    std::vector<char*> attributes;
    for (const auto& a : spec.attributes) attributes.push_back(const_cast<char*>(a.c_str()));
    attributes.push_back(nullptr);
    int msgid = -1;
    rc = ldap_search_ext(handle_->ld.get(), spec.base_dn.c_str(), LDAP_SCOPE_SUBTREE, spec.filter.c_str(),
                         spec.attributes.empty() ? nullptr : attributes.data(), 0, server_controls, nullptr, nullptr,
                         LDAP_NO_LIMIT, &msgid);
    if (rc == LDAP_FILTER_ERROR) {
        return make_error("the LDAP filter " + spec.filter + " is not valid (RFC 4515)", ErrorKind::Permanent);
    }
    if (rc != LDAP_SUCCESS) return error_of("starting the sync search of " + spec.base_dn, rc);
    const int index = next_search_++;
    handle_->searches[msgid] = Handle::Search{index, spec.base_dn, cookie.has_value()};
    return index;
}

Result<std::vector<SyncMessage>> SyncConnection::poll(std::chrono::milliseconds timeout, std::size_t max) {
    SigpipeGuard guard;
    std::vector<SyncMessage> out;
    LDAP* ld = handle_->ld.get();
    while (out.size() < max) {
        timeval wait = out.empty() ? timeval_of(timeout) : timeval{0, 0};
        LDAPMessage* raw = nullptr;
        const int type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, &wait, &raw);
        MessagePtr message(raw);
        if (type == 0) break;
        if (type == -1) {
            int code = LDAP_SERVER_DOWN;
            ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code);
            auto error = error_of("the connection to " + url_ + " was lost", code);
            error.kind = ErrorKind::Transient;
            return error;
        }
        const auto found = handle_->searches.find(ldap_msgid(message.get()));
        if (found == handle_->searches.end()) continue;  // an abandoned search's late answer
        const auto& search = found->second;
        SyncMessage m;
        m.search = search.index;
        switch (type) {
            case LDAP_RES_SEARCH_ENTRY: {
                m.kind = SyncMessage::Kind::Entry;
                LdapText dn(ldap_get_dn(ld, message.get()));
                m.dn = text_of(dn.get());
                LDAPControl** raw_controls = nullptr;
                ldap_get_entry_controls(ld, message.get(), &raw_controls);
                ControlsPtr controls(raw_controls);
                LDAPControl* state = controls ? ldap_control_find(LDAP_CONTROL_SYNC_STATE, controls.get(), nullptr)
                                              : nullptr;
                if (state == nullptr) {
                    return make_error("the LDAP server sent " + m.dn + " without a sync state (RFC 4533)",
                                      ErrorKind::Permanent);
                }
                auto decoded = decode_sync_state(value_of(*state));
                if (!decoded.ok()) return decoded.error();
                m.state = decoded->state;
                m.uuid = decoded->uuid;
                m.cookie = decoded->cookie;
                if (m.state == SyncState::Add || m.state == SyncState::Modify) m.attributes = attributes_of(ld, message.get());
                break;
            }
            case LDAP_RES_INTERMEDIATE: {
                char* raw_oid = nullptr;
                berval* raw_data = nullptr;
                const int rc = ldap_parse_intermediate(ld, message.get(), &raw_oid, &raw_data, nullptr, 0);
                LdapText oid(raw_oid);
                BerValPtr data(raw_data);
                if (rc != LDAP_SUCCESS || !oid || std::strcmp(oid.get(), LDAP_SYNC_INFO) != 0 || !data) continue;
                auto info = decode_sync_info(bytes_of(*data));
                if (!info.ok()) return info.error();
                m.cookie = info->cookie;
                switch (info->kind) {
                    case SyncInfoValue::Kind::NewCookie:
                        m.kind = SyncMessage::Kind::Cookie;
                        break;
                    case SyncInfoValue::Kind::RefreshDelete:
                    case SyncInfoValue::Kind::RefreshPresent:
                        // refreshDone FALSE only marks the change from the present to the delete phase.
                        if (!info->refresh_done) {
                            if (!m.cookie) continue;
                            m.kind = SyncMessage::Kind::Cookie;
                            break;
                        }
                        m.kind = SyncMessage::Kind::RefreshDone;
                        m.present_phase = info->kind == SyncInfoValue::Kind::RefreshPresent;
                        break;
                    case SyncInfoValue::Kind::IdSet:
                        m.kind = SyncMessage::Kind::Ids;
                        m.uuids = std::move(info->uuids);
                        m.deleted = info->refresh_deletes;
                        break;
                }
                break;
            }
            case LDAP_RES_SEARCH_RESULT: {
                int code = LDAP_SUCCESS;
                char* raw_matched = nullptr;
                char* raw_text = nullptr;
                LDAPControl** raw_controls = nullptr;
                const int rc = ldap_parse_result(ld, message.get(), &code, &raw_matched, &raw_text, nullptr,
                                                 &raw_controls, 0);
                LdapText matched(raw_matched), text(raw_text);
                ControlsPtr controls(raw_controls);
                const std::string detail = text && *text ? std::string(": ") + text.get() : std::string();
                if (LDAPControl* done = controls ? ldap_control_find(LDAP_CONTROL_SYNC_DONE, controls.get(), nullptr)
                                                 : nullptr) {
                    auto decoded = decode_sync_done(value_of(*done));
                    if (decoded.ok()) {
                        m.cookie = decoded->cookie;
                        m.present_phase = !decoded->refresh_deletes;
                    }
                }
                m.kind = SyncMessage::Kind::Ended;
                if (rc != LDAP_SUCCESS) code = rc;
                if (code == kSyncRefreshRequired ||
                    (code == LDAP_UNWILLING_TO_PERFORM && search.with_cookie)) {
                    // The server cannot resume from the cookie (it says so with 4096, or with 53
                    // when it holds older data than the cookie names): a full refresh is needed.
                    m.refresh_required = true;
                    m.error = make_error("the LDAP server refused to resume " + search.base_dn + " from the stored cookie" +
                                             detail, ErrorKind::Transient);
                } else if (code == LDAP_UNAVAILABLE_CRITICAL_EXTENSION) {
                    m.error = make_error("the LDAP server does not offer content synchronisation (RFC 4533) for " +
                                             search.base_dn +
                                             ": enable the syncprov overlay on that database (`overlay syncprov` in "
                                             "slapd.conf, or an olcOverlay=syncprov entry under its cn=config database)",
                                         ErrorKind::Permanent);
                } else if (code == LDAP_NO_SUCH_OBJECT) {
                    m.error = make_error("the base DN " + search.base_dn + " does not exist on " + url_ + detail,
                                         ErrorKind::Permanent);
                } else if (code == LDAP_SIZELIMIT_EXCEEDED) {
                    m.error = make_error("the LDAP server's size limit stopped the sync of " + search.base_dn +
                                             ": give the bind DN an unlimited size limit (limits ... size=unlimited)",
                                         ErrorKind::Permanent);
                } else if (code == LDAP_SUCCESS) {
                    // refreshOnly ends here; in refreshAndPersist the server ended the search.
                    m.error = make_error("the LDAP server ended the sync search of " + search.base_dn,
                                         ErrorKind::Transient);
                } else {
                    m.error = error_of("the sync search of " + search.base_dn + " failed", code, detail);
                }
                handle_->searches.erase(found);
                break;
            }
            default:
                continue;  // search references: referrals are off
        }
        out.push_back(std::move(m));
    }
    return out;
}

Result<bool> SyncConnection::plain_search(const SearchSpec& spec, const std::string& filter,
                                          const std::vector<std::string>& attribute_names,
                                          std::chrono::milliseconds timeout,
                                          const std::function<void(FoundEntry)>& each) {
    LDAP* ld = handle_->ld.get();
    std::vector<char*> attributes;
    for (const auto& a : attribute_names) attributes.push_back(const_cast<char*>(a.c_str()));
    attributes.push_back(nullptr);
    int msgid = -1;
    int rc = ldap_search_ext(ld, spec.base_dn.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                             attribute_names.empty() ? nullptr : attributes.data(), 0, nullptr, nullptr, nullptr,
                             LDAP_NO_LIMIT, &msgid);
    if (rc == LDAP_FILTER_ERROR) {
        return make_error("the LDAP filter " + spec.filter + " is not valid (RFC 4515)", ErrorKind::Permanent);
    }
    if (rc != LDAP_SUCCESS) return error_of("looking up entries under " + spec.base_dn, rc);
    for (;;) {
        timeval wait = timeval_of(timeout);
        LDAPMessage* raw = nullptr;
        const int type = ldap_result(ld, msgid, LDAP_MSG_ONE, &wait, &raw);
        MessagePtr message(raw);
        if (type == 0) {
            ldap_abandon_ext(ld, msgid, nullptr, nullptr);
            return make_error("looking up entries under " + spec.base_dn + " took longer than " +
                                  std::to_string(timeout.count()) + " ms",
                              ErrorKind::Transient);
        }
        if (type == -1) {
            auto error = error_of("the connection to " + url_ + " was lost", LDAP_SERVER_DOWN);
            error.kind = ErrorKind::Transient;
            return error;
        }
        if (type == LDAP_RES_SEARCH_ENTRY) {
            FoundEntry entry;
            LdapText dn(ldap_get_dn(ld, message.get()));
            entry.dn = text_of(dn.get());
            entry.attributes = attributes_of(ld, message.get());
            const auto uuid = entry.attributes.find("entryuuid");
            if (uuid == entry.attributes.end() || uuid->second.empty()) {
                return make_error("the LDAP server sent " + entry.dn + " without its entryUUID", ErrorKind::Permanent);
            }
            entry.uuid = lower(uuid->second.front());
            each(std::move(entry));
        } else if (type == LDAP_RES_SEARCH_RESULT) {
            int code = LDAP_SUCCESS;
            char* raw_text = nullptr;
            const int parsed = ldap_parse_result(ld, message.get(), &code, nullptr, &raw_text, nullptr, nullptr, 0);
            LdapText text(raw_text);
            if (parsed != LDAP_SUCCESS) code = parsed;
            const std::string detail = text && *text ? std::string(": ") + text.get() : std::string();
            if (code == LDAP_NO_SUCH_OBJECT) {
                return make_error("the base DN " + spec.base_dn + " does not exist on " + url_ + detail,
                                  ErrorKind::Permanent);
            }
            if (code == LDAP_SIZELIMIT_EXCEEDED || code == LDAP_ADMINLIMIT_EXCEEDED) {
                auto error = error_of("listing the entries under " + spec.base_dn + " passed the server's size limit "
                                      "for the bind DN (give it one: limits dn.exact=\"<bind DN>\" size=unlimited)",
                                      code, detail);
                error.kind = ErrorKind::Permanent;
                return error;
            }
            if (code != LDAP_SUCCESS) return error_of("looking up entries under " + spec.base_dn, code, detail);
            return true;
        }
        // Search references: referrals are off.
    }
}

std::string SyncConnection::scope_filter(const SearchSpec& spec) {
    return spec.filter.empty() ? std::string("(objectClass=*)")
           : spec.filter.front() == '(' ? spec.filter
                                       : "(" + spec.filter + ")";
}

Result<std::vector<FoundEntry>> SyncConnection::find(const SearchSpec& spec, const std::vector<std::string>& uuids,
                                                     std::chrono::milliseconds timeout) {
    SigpipeGuard guard;
    // A batch keeps the filter well below any server's limits while costing one round trip per
    // hundred inferred deletions.
    constexpr std::size_t kBatch = 100;
    const std::string scope = scope_filter(spec);
    std::vector<FoundEntry> found;
    for (std::size_t from = 0; from < uuids.size(); from += kBatch) {
        std::string any;
        for (std::size_t i = from; i < std::min(uuids.size(), from + kBatch); ++i) {
            const auto& uuid = uuids[i];
            // Text entryUUIDs are hex digits and dashes: nothing in them needs filter escaping.
            const bool plain = !uuid.empty() && std::all_of(uuid.begin(), uuid.end(), [](unsigned char c) {
                return std::isxdigit(c) != 0 || c == '-';
            });
            if (!plain) return make_error("not an entryUUID: " + uuid, ErrorKind::Permanent);
            any += "(entryUUID=" + uuid + ")";
        }
        auto searched = plain_search(spec, "(&" + scope + "(|" + any + "))", spec.attributes, timeout,
                                     [&](FoundEntry entry) { found.push_back(std::move(entry)); });
        if (!searched.ok()) return searched.error();
    }
    return found;
}

Result<std::set<std::string>> SyncConnection::list(const SearchSpec& spec, std::chrono::milliseconds timeout) {
    SigpipeGuard guard;
    std::set<std::string> ids;
    auto searched = plain_search(spec, scope_filter(spec), {"entryUUID"}, timeout,
                                 [&](FoundEntry entry) { ids.insert(std::move(entry.uuid)); });
    if (!searched.ok()) return searched.error();
    return ids;
}

}  // namespace provbridge::producers::ldap
