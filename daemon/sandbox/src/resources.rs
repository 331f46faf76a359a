//! The table of resource kinds the sandbox serves: it drives routing and discovery.

/// A subresource as discovery announces it (`pods/eviction`, `deployments/scale`...).
#[derive(Debug, Clone, Copy)]
pub struct Subresource {
    /// The path segment after the object name.
    pub name: &'static str,
    /// The kind of the body it takes or returns.
    pub kind: &'static str,
    /// The API group of that kind when it differs from the parent's (eviction is `policy`).
    pub group: &'static str,
    /// The API version of that kind.
    pub version: &'static str,
    /// The verbs it answers.
    pub verbs: &'static [&'static str],
}

/// One resource kind: where it lives in the API and how discovery names it.
#[derive(Debug)]
pub struct ResourceDef {
    /// API group, empty for the core group.
    pub group: &'static str,
    /// API version (`v1` for everything the sandbox serves).
    pub version: &'static str,
    /// The plural, lowercase name used in paths (`pods`).
    pub plural: &'static str,
    /// The singular name (`pod`).
    pub singular: &'static str,
    /// The object kind (`Pod`).
    pub kind: &'static str,
    /// Whether objects live inside a namespace.
    pub namespaced: bool,
    /// Abbreviations kubectl accepts (`po`).
    pub short_names: &'static [&'static str],
    /// Categories, so `kubectl get all` finds the workloads.
    pub categories: &'static [&'static str],
    /// Whether `status` is a separate subresource (a main update keeps the stored status).
    pub has_status: bool,
    /// Further subresources.
    pub subresources: &'static [Subresource],
}

impl ResourceDef {
    /// `v1` for the core group, `group/version` otherwise: the object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`: the name used in error messages.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether the kind carries a `metadata.generation` bumped on spec changes.
    pub fn has_generation(&self) -> bool {
        matches!(
            self.plural,
            "deployments" | "replicasets" | "statefulsets" | "poddisruptionbudgets"
        )
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const fn status() -> Subresource {
    Subresource {
        name: "status",
        kind: "",
        group: "",
        version: "",
        verbs: STATUS_VERBS,
    }
}

const fn scale() -> Subresource {
    Subresource {
        name: "scale",
        kind: "Scale",
        group: "autoscaling",
        version: "v1",
        verbs: STATUS_VERBS,
    }
}

/// The `namespaces` resource.
pub static NAMESPACES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    short_names: &["ns"],
    categories: &[],
    has_status: true,
    subresources: &[status()],
};

/// The `nodes` resource.
pub static NODES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    short_names: &["no"],
    categories: &[],
    has_status: true,
    subresources: &[status()],
};

/// The `pods` resource.
pub static PODS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    short_names: &["po"],
    categories: &["all"],
    has_status: true,
    subresources: &[
        status(),
        Subresource {
            name: "eviction",
            kind: "Eviction",
            group: "policy",
            version: "v1",
            verbs: &["create"],
        },
        Subresource {
            name: "log",
            kind: "Pod",
            group: "",
            version: "v1",
            verbs: &["get"],
        },
    ],
};

/// The `services` resource.
pub static SERVICES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "services",
    singular: "service",
    kind: "Service",
    namespaced: true,
    short_names: &["svc"],
    categories: &["all"],
    has_status: true,
    subresources: &[
        status(),
        Subresource {
            name: "proxy",
            kind: "ServiceProxyOptions",
            group: "",
            version: "v1",
            verbs: &["create", "delete", "get", "patch", "update"],
        },
    ],
};

/// The `endpoints` resource.
pub static ENDPOINTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "endpoints",
    singular: "endpoints",
    kind: "Endpoints",
    namespaced: true,
    short_names: &["ep"],
    categories: &[],
    has_status: false,
    subresources: &[],
};

/// The `events` resource.
pub static EVENTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    short_names: &["ev"],
    categories: &[],
    has_status: false,
    subresources: &[],
};

/// The `configmaps` resource.
pub static CONFIGMAPS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    namespaced: true,
    short_names: &["cm"],
    categories: &[],
    has_status: false,
    subresources: &[],
};

/// The `deployments` resource.
pub static DEPLOYMENTS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    namespaced: true,
    short_names: &["deploy"],
    categories: &["all"],
    has_status: true,
    subresources: &[status(), scale()],
};

/// The `replicasets` resource.
pub static REPLICASETS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    plural: "replicasets",
    singular: "replicaset",
    kind: "ReplicaSet",
    namespaced: true,
    short_names: &["rs"],
    categories: &["all"],
    has_status: true,
    subresources: &[status(), scale()],
};

/// The `statefulsets` resource.
pub static STATEFULSETS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    plural: "statefulsets",
    singular: "statefulset",
    kind: "StatefulSet",
    namespaced: true,
    short_names: &["sts"],
    categories: &["all"],
    has_status: true,
    subresources: &[status(), scale()],
};

/// The `poddisruptionbudgets` resource.
pub static PODDISRUPTIONBUDGETS: ResourceDef = ResourceDef {
    group: "policy",
    version: "v1",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    kind: "PodDisruptionBudget",
    namespaced: true,
    short_names: &["pdb"],
    categories: &[],
    has_status: true,
    subresources: &[status()],
};

/// The `leases` resource.
pub static LEASES: ResourceDef = ResourceDef {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    singular: "lease",
    kind: "Lease",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    subresources: &[],
};

/// The `serviceaccounts` resource; `token` mints a bearer token (TokenRequest).
pub static SERVICEACCOUNTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    namespaced: true,
    short_names: &["sa"],
    categories: &[],
    has_status: false,
    subresources: &[Subresource {
        name: "token",
        kind: "TokenRequest",
        group: "authentication.k8s.io",
        version: "v1",
        verbs: &["create"],
    }],
};

/// The RBAC group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

const fn rbac(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group: RBAC_GROUP,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        has_status: false,
        subresources: &[],
    }
}

/// The `roles` resource.
pub static ROLES: ResourceDef = rbac("roles", "role", "Role", true);
/// The `clusterroles` resource.
pub static CLUSTERROLES: ResourceDef = rbac("clusterroles", "clusterrole", "ClusterRole", false);
/// The `rolebindings` resource.
pub static ROLEBINDINGS: ResourceDef = rbac("rolebindings", "rolebinding", "RoleBinding", true);
/// The `clusterrolebindings` resource.
pub static CLUSTERROLEBINDINGS: ResourceDef = rbac(
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    false,
);

/// `selfsubjectaccessreviews` (authorization.k8s.io): create-only, never stored.
pub static SELFSUBJECTACCESSREVIEWS: ResourceDef = ResourceDef {
    group: "authorization.k8s.io",
    version: "v1",
    plural: "selfsubjectaccessreviews",
    singular: "selfsubjectaccessreview",
    kind: "SelfSubjectAccessReview",
    namespaced: false,
    short_names: &[],
    categories: &[],
    has_status: false,
    subresources: &[],
};

/// Kinds served for `create` only and never stored (reviews), after [`RESOURCES`] in
/// discovery.
pub static REVIEWS: &[&ResourceDef] = &[&SELFSUBJECTACCESSREVIEWS];

/// Every kind the sandbox stores, in discovery order.
pub static RESOURCES: &[&ResourceDef] = &[
    &NAMESPACES,
    &NODES,
    &PODS,
    &SERVICES,
    &ENDPOINTS,
    &EVENTS,
    &CONFIGMAPS,
    &DEPLOYMENTS,
    &REPLICASETS,
    &STATEFULSETS,
    &PODDISRUPTIONBUDGETS,
    &LEASES,
    &SERVICEACCOUNTS,
    &ROLES,
    &CLUSTERROLES,
    &ROLEBINDINGS,
    &CLUSTERROLEBINDINGS,
];

/// The verbs every stored kind answers.
pub fn verbs() -> &'static [&'static str] {
    ALL_VERBS
}

/// The verbs a kind answers in discovery: every verb for stored kinds, `create` for
/// reviews.
pub fn verbs_of(resource: &ResourceDef) -> &'static [&'static str] {
    if REVIEWS.iter().any(|r| r.plural == resource.plural) {
        &["create"]
    } else {
        ALL_VERBS
    }
}

/// Stored kinds, then reviews: everything discovery announces.
pub fn served() -> impl Iterator<Item = &'static ResourceDef> {
    RESOURCES.iter().chain(REVIEWS.iter()).copied()
}

/// Whether `name` is acceptable for objects of this kind. RBAC objects take path segment
/// names (`system:discovery`), as the API server's validation does; other kinds a
/// lowercase RFC 1123 subdomain.
pub fn name_is_valid(resource: &ResourceDef, name: &str) -> bool {
    if resource.group == RBAC_GROUP {
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
    } else {
        crate::names::valid_name(name)
    }
}

/// The resource served at `group/version/plural`, if any.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .copied()
}

/// The resource of a kind by its plural name alone (plural names are unique here).
pub fn by_plural(plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.plural == plural).copied()
}

/// The API groups besides core, in discovery order, each with its one version.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for r in served() {
        if !r.group.is_empty() && !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}
