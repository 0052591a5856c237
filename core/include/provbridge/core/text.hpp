#pragma once

#include <string>
#include <string_view>

namespace provbridge {

// ASCII case-insensitive comparison: SCIM attribute names, header names and canonical values
// such as "work" compare this way (RFC 7643 §2.1).
bool iequals(std::string_view a, std::string_view b);

// ASCII lower case; other bytes (UTF-8) are left as they are.
std::string ascii_lower(std::string_view s);

// ms since the epoch as 2026-12-07T19:46:34Z (UTC, whole seconds); "-" for 0 or less.
std::string utc_timestamp(long long ms);

}  // namespace provbridge
