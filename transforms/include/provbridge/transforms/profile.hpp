#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/config.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/scoping.hpp"

namespace provbridge::transforms {

// What an app accepts for one object type, from its connector profile.
struct ObjectRules {
    bool enabled = true;          // false: events for this object type are skipped
    std::string disabled_reason;  // said in the outcome when disabled
    bool create = true;           // false: accounts must already exist (matched, never created)
    bool remove = true;           // false: never deleted (unassign/delete leave them alone)
    // Types of email the app stores; empty = any. Others are dropped, and an object left with
    // only other types is refused before any request.
    std::vector<std::string> allowed_email_types;
    // Attributes the app can filter on; empty = any. Matching attributes must be among them.
    std::vector<std::string> filterable;
};

struct ObjectProfile {
    ObjectMapping mapping;
    ObjectRules rules;
    Scoping scoping;
    // The source attributes mapping and scoping read (attributes_read), whose types each event
    // is checked against before anything is decided.
    std::vector<std::string> source_attributes;
};

// A connector profile with an app's own mappings and scoping applied.
struct AppProfile {
    std::string name;
    std::string title;
    std::string base_url;  // the URL shape the app's documentation gives (a hint, not enforced)
    bool skip_default_access = true;
    std::vector<std::string> notes;
    ObjectProfile users;
    ObjectProfile groups;
};

// Names of the profiles shipped with provbridge (transforms/profiles/*.json, built in).
const std::vector<std::string>& builtin_profile_names();
// The shipped profile's JSON text, or nullopt for an unknown name.
std::optional<std::string_view> builtin_profile_text(std::string_view name);

// Parses a profile document. Throws ConfigError(file, field, reason) on any mistake; `file`
// names where the document came from.
AppProfile parse_profile(const nlohmann::json& doc, const std::string& file);

// A built-in profile; throws std::logic_error if the shipped file is broken (a build defect,
// covered by tests).
AppProfile builtin_profile(std::string_view name);

// The profile an app runs with: its built-in profile, the app's mapping rows merged over the
// profile's (same target: replaced; "delete": true removes it; new targets appended), its
// scoping filters and switches. Throws ConfigError naming the file, the field (e.g.
// apps[0].mappings.users[2].expression) and the reason, with the column for expressions and paths.
AppProfile build_app_profile(const AppConfig& app, const std::string& config_file, std::size_t app_index);

// Parses mapping rows (the format of profiles and of app overrides). `field` prefixes error
// fields, e.g. "apps[0].mappings.users". Throws ConfigError.
std::vector<AttributeMapping> parse_mapping_rows(const nlohmann::json& rows, const std::string& file,
                                                 const std::string& field, bool allow_delete);

}  // namespace provbridge::transforms
