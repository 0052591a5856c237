#include "provbridge/producers/ldap_sync.hpp"

#include <cstdio>
#include <memory>

#include <lber.h>

namespace provbridge::producers::ldap {
namespace {

// BER tags of RFC 4533's values (implicit tags).
constexpr ber_tag_t kTagCookie = 0x04;          // OCTET STRING
constexpr ber_tag_t kTagBoolean = 0x01;         // refreshDone / refreshDeletes
constexpr ber_tag_t kTagNewCookie = 0x80;       // [0]
constexpr ber_tag_t kTagRefreshDelete = 0xa1;   // [1]
constexpr ber_tag_t kTagRefreshPresent = 0xa2;  // [2]
constexpr ber_tag_t kTagIdSet = 0xa3;           // [3]

struct BerFree {
    void operator()(BerElement* ber) const { ber_free(ber, 1); }
};
using BerPtr = std::unique_ptr<BerElement, BerFree>;
struct BerValFree {
    void operator()(berval* bv) const { ber_bvfree(bv); }
};
struct BerArrayFree {
    void operator()(berval* bv) const { ber_bvarray_free(bv); }
};

// ber_init copies the bytes, so the element owns what it reads. An empty value gives no
// element: lber reads past a buffer it was given none of.
BerPtr reader_of(std::string_view bytes) {
    if (bytes.empty()) return nullptr;
    berval bv{static_cast<ber_len_t>(bytes.size()), const_cast<char*>(bytes.data())};
    return BerPtr(ber_init(&bv));
}

Error malformed(const char* what) {
    return make_error(std::string("malformed ") + what + " from the LDAP server (RFC 4533)", ErrorKind::Permanent);
}

std::string text_of(const berval& bv) { return bv.bv_val ? std::string(bv.bv_val, bv.bv_len) : std::string(); }

// Reads the optional cookie at the element's position; false when it is there but unreadable.
bool read_optional_cookie(BerElement* ber, std::optional<std::string>& cookie) {
    ber_len_t len = 0;
    if (ber_peek_tag(ber, &len) != kTagCookie) return true;
    berval value{};
    if (ber_scanf(ber, "m", &value) == LBER_ERROR) return false;
    cookie = text_of(value);
    return true;
}

bool read_optional_boolean(BerElement* ber, bool& flag) {
    ber_len_t len = 0;
    if (ber_peek_tag(ber, &len) != kTagBoolean) return true;
    ber_int_t value = 0;
    if (ber_scanf(ber, "b", &value) == LBER_ERROR) return false;
    flag = value != 0;
    return true;
}

std::optional<Uuid> uuid_of(const berval& bv) {
    if (bv.bv_len != 16 || bv.bv_val == nullptr) return std::nullopt;
    Uuid out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(bv.bv_val[i]);
    return out;
}

}  // namespace

std::string uuid_text(const Uuid& u) {
    char buf[37];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                  u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    return buf;
}

std::string encode_sync_request(SyncMode mode, const std::optional<std::string>& cookie, bool reload_hint) {
    BerPtr ber(ber_alloc_t(LBER_USE_DER));
    // Encoding into a fresh element fails only when memory does; the caller gets an empty
    // value then, which the server refuses as malformed.
    if (!ber) return {};
    const auto mode_value = static_cast<ber_int_t>(mode);
    const auto hint = static_cast<ber_int_t>(reload_hint ? 1 : 0);
    int rc = 0;
    if (cookie) {
        berval value{static_cast<ber_len_t>(cookie->size()), const_cast<char*>(cookie->data())};
        rc = reload_hint ? ber_printf(ber.get(), "{eOb}", mode_value, &value, hint)
                         : ber_printf(ber.get(), "{eO}", mode_value, &value);
    } else {
        rc = reload_hint ? ber_printf(ber.get(), "{eb}", mode_value, hint) : ber_printf(ber.get(), "{e}", mode_value);
    }
    if (rc == -1) return {};
    berval* flat = nullptr;
    if (ber_flatten(ber.get(), &flat) == -1 || flat == nullptr) return {};
    std::unique_ptr<berval, BerValFree> owned(flat);
    return text_of(*owned);
}

Result<SyncStateValue> decode_sync_state(std::string_view bytes) {
    auto ber = reader_of(bytes);
    if (!ber) return malformed("sync state control");
    ber_int_t state = -1;
    berval uuid{};
    if (ber_scanf(ber.get(), "{em", &state, &uuid) == LBER_ERROR) return malformed("sync state control");
    SyncStateValue out;
    if (state < 0 || state > 3) return malformed("sync state (unknown state)");
    out.state = static_cast<SyncState>(state);
    auto parsed = uuid_of(uuid);
    if (!parsed) return malformed("sync state (entryUUID is not 16 bytes)");
    out.uuid = *parsed;
    if (!read_optional_cookie(ber.get(), out.cookie)) return malformed("sync state cookie");
    return out;
}

Result<SyncDoneValue> decode_sync_done(std::string_view bytes) {
    auto ber = reader_of(bytes);
    if (!ber) return malformed("sync done control");
    if (ber_scanf(ber.get(), "{") == LBER_ERROR) return malformed("sync done control");
    SyncDoneValue out;
    if (!read_optional_cookie(ber.get(), out.cookie) || !read_optional_boolean(ber.get(), out.refresh_deletes)) {
        return malformed("sync done control");
    }
    return out;
}

Result<SyncInfoValue> decode_sync_info(std::string_view bytes) {
    auto ber = reader_of(bytes);
    if (!ber) return malformed("sync info message");
    ber_len_t len = 0;
    SyncInfoValue out;
    switch (ber_peek_tag(ber.get(), &len)) {
        case kTagNewCookie: {
            berval value{};
            if (ber_scanf(ber.get(), "m", &value) == LBER_ERROR) return malformed("sync info new cookie");
            out.kind = SyncInfoValue::Kind::NewCookie;
            out.cookie = text_of(value);
            return out;
        }
        case kTagRefreshDelete:
        case kTagRefreshPresent: {
            out.kind = ber_peek_tag(ber.get(), &len) == kTagRefreshDelete ? SyncInfoValue::Kind::RefreshDelete
                                                                          : SyncInfoValue::Kind::RefreshPresent;
            if (ber_scanf(ber.get(), "{") == LBER_ERROR || !read_optional_cookie(ber.get(), out.cookie) ||
                !read_optional_boolean(ber.get(), out.refresh_done)) {
                return malformed("sync info refresh message");
            }
            return out;
        }
        case kTagIdSet: {
            out.kind = SyncInfoValue::Kind::IdSet;
            if (ber_scanf(ber.get(), "{") == LBER_ERROR || !read_optional_cookie(ber.get(), out.cookie) ||
                !read_optional_boolean(ber.get(), out.refresh_deletes)) {
                return malformed("sync info id set");
            }
            berval* raw = nullptr;
            if (ber_scanf(ber.get(), "[W]", &raw) == LBER_ERROR) return malformed("sync info id set");
            std::unique_ptr<berval, BerArrayFree> uuids(raw);
            for (berval* u = uuids.get(); u != nullptr && u->bv_val != nullptr; ++u) {
                auto parsed = uuid_of(*u);
                if (!parsed) return malformed("sync info id set (entryUUID is not 16 bytes)");
                out.uuids.push_back(*parsed);
            }
            return out;
        }
        default:
            return malformed("sync info message (unknown choice)");
    }
}

}  // namespace provbridge::producers::ldap
