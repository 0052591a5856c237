#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provbridge/core/result.hpp"

// The values of RFC 4533 (LDAP content synchronisation) that libldap leaves to its caller:
// Debian's libldap-dev has no ldap_sync.h helpers we can drive from our own loop, so the sync
// request control is encoded and the sync state, done and info values are decoded here, with
// lber doing the BER. Pure functions over bytes: no connection, testable on their own.
namespace provbridge::producers::ldap {

inline constexpr const char* kSyncRequestOid = "1.3.6.1.4.1.4203.1.9.1.1";
inline constexpr const char* kSyncStateOid = "1.3.6.1.4.1.4203.1.9.1.2";
inline constexpr const char* kSyncDoneOid = "1.3.6.1.4.1.4203.1.9.1.3";
inline constexpr const char* kSyncInfoOid = "1.3.6.1.4.1.4203.1.9.1.4";
// e-syncRefreshRequired: the server will not resume from the cookie; start again without one.
inline constexpr int kSyncRefreshRequired = 4096;

enum class SyncMode { RefreshOnly = 1, RefreshAndPersist = 3 };
enum class SyncState { Present = 0, Add = 1, Modify = 2, Delete = 3 };

// An entry's entryUUID as the sync messages carry it (16 raw bytes).
using Uuid = std::array<std::uint8_t, 16>;
// The entryUUID attribute's text form: "0f2721a6-82a7-1041-8cb4-13741c768788".
std::string uuid_text(const Uuid& uuid);

// syncRequestValue ::= SEQUENCE { mode ENUMERATED, cookie OCTET STRING OPTIONAL,
//                                 reloadHint BOOLEAN DEFAULT FALSE }
std::string encode_sync_request(SyncMode mode, const std::optional<std::string>& cookie, bool reload_hint);

// syncStateValue ::= SEQUENCE { state ENUMERATED, entryUUID OCTET STRING (SIZE(16)),
//                               cookie OCTET STRING OPTIONAL }
struct SyncStateValue {
    SyncState state = SyncState::Present;
    Uuid uuid{};
    std::optional<std::string> cookie;
};
Result<SyncStateValue> decode_sync_state(std::string_view ber);

// syncDoneValue ::= SEQUENCE { cookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE }
struct SyncDoneValue {
    std::optional<std::string> cookie;
    bool refresh_deletes = false;
};
Result<SyncDoneValue> decode_sync_done(std::string_view ber);

// syncInfoValue ::= CHOICE { newcookie [0], refreshDelete [1], refreshPresent [2], syncIdSet [3] }
struct SyncInfoValue {
    enum class Kind { NewCookie, RefreshDelete, RefreshPresent, IdSet };
    Kind kind = Kind::NewCookie;
    std::optional<std::string> cookie;
    bool refresh_done = true;      // refreshDelete / refreshPresent (DEFAULT TRUE)
    bool refresh_deletes = false;  // syncIdSet: true = the uuids were deleted, false = they are present
    std::vector<Uuid> uuids;       // syncIdSet
};
Result<SyncInfoValue> decode_sync_info(std::string_view ber);

}  // namespace provbridge::producers::ldap
