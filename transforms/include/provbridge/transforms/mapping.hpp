#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/outcome.hpp"
#include "provbridge/transforms/expression.hpp"
#include "provbridge/transforms/scim_path.hpp"

namespace provbridge::transforms {

inline constexpr const char* kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr const char* kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr const char* kEnterpriseUserSchema =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr const char* kPatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr const char* kListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

enum class MappingType { Direct, Constant, Expression, None };
enum class ApplyOn { Always, OnCreate };

// One row of an app's attribute-mapping table, as in Entra's mapping screen.
struct AttributeMapping {
    ScimPath target;
    MappingType type = MappingType::Direct;
    Expression source;
    ApplyOn apply = ApplyOn::Always;
    std::optional<nlohmann::json> default_value;  // used on create only, when the value is null
    int match_precedence = 0;                     // 0: not used for matching; 1 is tried first
};

struct ObjectMapping {
    std::string resource_path;  // "/Users" or "/Groups"
    std::string core_schema;
    std::vector<AttributeMapping> attributes;

    // Matching mappings in precedence order.
    std::vector<const AttributeMapping*> matching() const;
};

// Entra ID's default SCIM user mapping (customappsso): userName←userPrincipalName (matching),
// active←Not([IsSoftDeleted]), displayName, title←jobTitle, emails work←mail, name parts,
// phone numbers, externalId←mailNickname, preferredLanguage, enterprise employeeNumber and
// department.
ObjectMapping default_user_mapping();

enum class Phase { Create, Update };

// The desired target attributes, keyed by canonical SCIM path, nulls left out. On create,
// defaults fill null values and on_create mappings are included; on update they are not.
nlohmann::json desired_attributes(const ObjectMapping& mapping, const SourceContext& context, Phase phase);

// The attribute set (same keys as desired_attributes) read back from a target resource.
nlohmann::json extract_attributes(const ObjectMapping& mapping, const nlohmann::json& resource);

// A full SCIM resource for POST built from an attribute set, with its schemas.
nlohmann::json build_resource(const ObjectMapping& mapping, const nlohmann::json& attributes);

// A minimal RFC 7644 PatchOp that takes the target from `applied` to `desired` for the
// mapping's always-applied attributes; empty Operations when nothing differs. `changes`
// receives old and new values for the provisioning log.
struct PatchPlan {
    nlohmann::json operations = nlohmann::json::array();
    std::vector<AttributeChange> changes;
    nlohmann::json applied_after;  // `applied` with the changes made
    bool empty() const { return operations.empty(); }
};
PatchPlan diff_attributes(const ObjectMapping& mapping, const nlohmann::json& desired,
                          const nlohmann::json& applied);

// Wraps operations in a PatchOp message body.
nlohmann::json patch_body(const nlohmann::json& operations);

}  // namespace provbridge::transforms
