//! RBAC driven by the real `kubectl` as a user would: ServiceAccounts, Roles and bindings
//! made with `kubectl create`, tokens from `kubectl create token`, and what the token may
//! and may not do, with the API server's Forbidden and Unauthorized answers.
//!
//! kubectl (client-go) sends a kubeconfig's or `--token`'s bearer token only over https
//! (kubernetes/kubectl#744), so these sandboxes serve https (`SandboxConfig::tls`): their
//! kubeconfigs carry the self-signed certificate as the cluster's authority, and kubectl
//! checks it as it would a real API server's.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};
use common::{KubectlOutput, TestSandbox};
use firedrill_sandbox::SandboxConfig;

const SA_USER: &str = "system:serviceaccount:shop:drill";

/// The sandbox's https endpoint and its certificate, written where kubectl can read it.
struct TlsFront {
    url: String,
    ca: PathBuf,
}

impl TlsFront {
    /// The sandbox serves https itself (`SandboxConfig::tls`); this only records where.
    fn start(sandbox: &TestSandbox) -> Result<Self> {
        let Some(pem) = sandbox.handle.certificate_pem() else {
            bail!("the sandbox does not serve https");
        };
        let ca = sandbox.dir.path().join("sandbox-ca.crt");
        std::fs::write(&ca, pem)?;
        Ok(Self {
            url: sandbox.handle.base_url(),
            ca,
        })
    }

    /// `--server` and `--certificate-authority` flags pointing kubectl at the sandbox.
    fn flags(&self, _sandbox: &TestSandbox) -> (String, String) {
        (
            format!("--server={}", self.url),
            format!("--certificate-authority={}", self.ca.display()),
        )
    }
}

/// A sandbox serving https (kubectl sends bearer tokens only over https).
async fn tls_sandbox() -> Result<TestSandbox> {
    TestSandbox::with_config(SandboxConfig {
        timing: common::fast_timing(),
        tls: true,
        ..SandboxConfig::default()
    })
    .await
}

/// A sandbox with namespace `shop`, pods `a` and `b` in it, and the ServiceAccount
/// `shop/drill` made by `kubectl create serviceaccount`.
async fn shop() -> Result<(TestSandbox, TlsFront)> {
    let sandbox = tls_sandbox().await?;
    let front = TlsFront::start(&sandbox)?;
    let manifest = sandbox.dir.path().join("shop.yaml");
    let pod = |name: &str| {
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
  labels: {{app: shop}}
spec:
  containers:
  - name: web
    image: registry.example.com/shop/web:1.0.0
"
        )
    };
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n{}---\n{}",
            pod("a"),
            pod("b")
        ),
    )?;
    let manifest = manifest.display().to_string();
    tokio::task::block_in_place(|| {
        sandbox.kubectl_ok(&["apply", "-f", &manifest])?;
        sandbox.kubectl_ok(&["create", "serviceaccount", "drill", "-n", "shop"])
    })?;
    Ok((sandbox, front))
}

/// `kubectl create role pod-reader` (get, list pods in shop) and a RoleBinding of it to
/// the ServiceAccount `shop/drill`.
fn grant_pod_reader(sandbox: &TestSandbox) -> Result<()> {
    sandbox.kubectl_ok(&[
        "create",
        "role",
        "pod-reader",
        "-n",
        "shop",
        "--verb=get,list",
        "--resource=pods",
    ])?;
    sandbox.kubectl_ok(&[
        "create",
        "rolebinding",
        "drill-reads-pods",
        "-n",
        "shop",
        "--role=pod-reader",
        "--serviceaccount=shop:drill",
    ])?;
    Ok(())
}

/// `kubectl create token drill -n shop`, checked to print one token and nothing else.
fn create_token(sandbox: &TestSandbox) -> Result<String> {
    let out = sandbox.kubectl_ok(&["create", "token", "drill", "-n", "shop"])?;
    let token = out.trim().to_owned();
    if token.is_empty() || token.contains(char::is_whitespace) {
        bail!("kubectl create token printed {out:?}");
    }
    Ok(token)
}

/// A kubeconfig for `front` whose only credential is `token` (no admin token to fall
/// back on), trusting the front's certificate.
fn token_kubeconfig(sandbox: &TestSandbox, _front: &TlsFront, token: &str) -> Result<PathBuf> {
    static WRITTEN: AtomicUsize = AtomicUsize::new(0);
    let n = WRITTEN.fetch_add(1, Ordering::Relaxed);
    let path = sandbox.dir.path().join(format!("kubeconfig-token-{n}"));
    std::fs::write(&path, sandbox.handle.kubeconfig_with_token(token))?;
    Ok(path)
}

/// Runs kubectl as the holder of the kubeconfig at `as_user`.
fn kubectl_as(sandbox: &TestSandbox, as_user: &Path, args: &[&str]) -> Result<KubectlOutput> {
    let kubeconfig = format!("--kubeconfig={}", as_user.display());
    let mut all = vec![kubeconfig.as_str()];
    all.extend_from_slice(args);
    sandbox.kubectl(&all)
}

/// `kubectl_as` that must succeed; returns stdout.
fn kubectl_as_ok(sandbox: &TestSandbox, as_user: &Path, args: &[&str]) -> Result<String> {
    let out = kubectl_as(sandbox, as_user, args)?;
    if !out.success {
        bail!(
            "kubectl {} failed as the token\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
    }
    Ok(out.stdout)
}

/// `kubectl_as` that must fail with `expected` on stderr.
fn kubectl_as_refused(
    sandbox: &TestSandbox,
    as_user: &Path,
    args: &[&str],
    expected: &str,
) -> Result<()> {
    let out = kubectl_as(sandbox, as_user, args)?;
    if out.success || !out.stderr.contains(expected) {
        bail!(
            "kubectl {} as the token: wanted a failure saying\n{expected}\ngot success={}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.success,
            out.stdout,
            out.stderr
        );
    }
    Ok(())
}

/// `kubectl auth can-i ARGS` as the token: `true` for `yes` (exit 0), `false` for `no`
/// (exit 1), an error for anything else.
fn can_i(sandbox: &TestSandbox, as_user: &Path, args: &[&str]) -> Result<bool> {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let out = kubectl_as(sandbox, as_user, &all)?;
    match (out.success, out.stdout.trim()) {
        (true, "yes") => Ok(true),
        (false, answer) if answer.starts_with("no") => Ok(false),
        _ => bail!(
            "kubectl auth can-i {}: success={}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.success,
            out.stdout,
            out.stderr
        ),
    }
}

fn forbidden_in_shop(verb: &str, resource: &str, name: Option<&str>) -> String {
    let object = match name {
        Some(name) => format!("{resource} \"{name}\""),
        None => resource.to_owned(),
    };
    format!(
        "Error from server (Forbidden): {object} is forbidden: User \"{SA_USER}\" cannot {verb} resource \"{resource}\" in API group \"\" in the namespace \"shop\""
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_a_role_lets_a_token_get_pods_but_not_delete_them() -> Result<()> {
    let (sandbox, front) = shop().await?;
    tokio::task::block_in_place(|| -> Result<()> {
        grant_pod_reader(&sandbox)?;
        let token = create_token(&sandbox)?;
        let as_drill = token_kubeconfig(&sandbox, &front, &token)?;
        let pods = kubectl_as_ok(&sandbox, &as_drill, &["get", "pods", "-n", "shop"])?;
        assert!(pods.lines().any(|l| l.starts_with("a ")), "{pods}");
        assert!(pods.lines().any(|l| l.starts_with("b ")), "{pods}");
        let pod = kubectl_as_ok(&sandbox, &as_drill, &["get", "pod", "a", "-n", "shop"])?;
        assert!(pod.lines().any(|l| l.starts_with("a ")), "{pod}");
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["delete", "pod", "a", "-n", "shop"],
            &forbidden_in_shop("delete", "pods", Some("a")),
        )?;
        // The same through the `--token` flag.
        let (server, ca) = front.flags(&sandbox);
        let flag = format!("--token={token}");
        let out = sandbox.kubectl(&[&server, &ca, &flag, "delete", "pod", "b", "-n", "shop"])?;
        assert!(!out.success, "{out:?}");
        assert!(
            out.stderr
                .contains(&forbidden_in_shop("delete", "pods", Some("b"))),
            "{out:?}"
        );
        // Nothing was deleted.
        let pods = sandbox.kubectl_ok(&["get", "pods", "-n", "shop", "-o", "name"])?;
        assert_eq!(pods.lines().count(), 2, "{pods}");
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_auth_can_i_answers_for_the_token() -> Result<()> {
    let (sandbox, front) = shop().await?;
    tokio::task::block_in_place(|| -> Result<()> {
        grant_pod_reader(&sandbox)?;
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        assert!(can_i(&sandbox, &as_drill, &["get", "pods", "-n", "shop"])?);
        assert!(can_i(&sandbox, &as_drill, &["list", "pods", "-n", "shop"])?);
        assert!(can_i(
            &sandbox,
            &as_drill,
            &["get", "pods/a", "-n", "shop"]
        )?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["delete", "pods", "-n", "shop"]
        )?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["watch", "pods", "-n", "shop"]
        )?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["get", "pods", "-n", "butterfly"]
        )?);
        assert!(!can_i(&sandbox, &as_drill, &["list", "nodes"])?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["create", "pods", "--subresource=eviction", "-n", "shop"]
        )?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["get", "deployments.apps", "-n", "shop"]
        )?);
        // The admin may do anything.
        let out = sandbox.kubectl_ok(&["auth", "can-i", "delete", "nodes"])?;
        assert_eq!(out.trim(), "yes");
        // `--list` needs SelfSubjectRulesReview, which the sandbox does not serve.
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_eviction_needs_create_on_pods_eviction() -> Result<()> {
    let (sandbox, front) = shop().await?;
    let eviction = sandbox.dir.path().join("eviction.json");
    std::fs::write(
        &eviction,
        r#"{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "a", "namespace": "shop"}}"#,
    )?;
    let eviction = eviction.display().to_string();
    let evict = [
        "create",
        "--raw",
        "/api/v1/namespaces/shop/pods/a/eviction",
        "-f",
        &eviction,
    ];
    tokio::task::block_in_place(|| -> Result<()> {
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &evict,
            &format!(
                "Error from server (Forbidden): pods \"a\" is forbidden: User \"{SA_USER}\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"shop\""
            ),
        )?;
        // Everything on pods is not the eviction subresource.
        sandbox.kubectl_ok(&[
            "create",
            "role",
            "pod-admin",
            "-n",
            "shop",
            "--verb=*",
            "--resource=pods",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-pod-admin",
            "-n",
            "shop",
            "--role=pod-admin",
            "--serviceaccount=shop:drill",
        ])?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &evict,
            "cannot create resource \"pods/eviction\"",
        )?;
        sandbox.kubectl_ok(&[
            "create",
            "role",
            "evictor",
            "-n",
            "shop",
            "--verb=create",
            "--resource=pods/eviction",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-evicts",
            "-n",
            "shop",
            "--role=evictor",
            "--serviceaccount=shop:drill",
        ])?;
        assert!(can_i(
            &sandbox,
            &as_drill,
            &["create", "pods", "--subresource=eviction", "-n", "shop"]
        )?);
        kubectl_as_ok(&sandbox, &as_drill, &evict)?;
        // An eviction deletes the pod gracefully: it is terminating (or already gone).
        let out = sandbox.kubectl(&[
            "get",
            "pod",
            "a",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])?;
        assert!(
            (out.success && !out.stdout.trim().is_empty())
                || out.stderr.contains("pods \"a\" not found"),
            "a was evicted: {out:?}"
        );
        let out = sandbox.kubectl_ok(&[
            "get",
            "pod",
            "b",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])?;
        assert!(out.trim().is_empty(), "b was not: {out}");
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_cordon_needs_a_cluster_role_bound_cluster_wide() -> Result<()> {
    let (sandbox, front) = shop().await?;
    let node = "zone-a-node-1";
    tokio::task::block_in_place(|| -> Result<()> {
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["cordon", node],
            &format!(
                "nodes \"{node}\" is forbidden: User \"{SA_USER}\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
            ),
        )?;
        // A Role cannot grant a cluster-scoped resource, even bound in its namespace.
        sandbox.kubectl_ok(&[
            "create",
            "role",
            "node-patcher",
            "-n",
            "shop",
            "--verb=get,patch",
            "--resource=nodes",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-node-patcher",
            "-n",
            "shop",
            "--role=node-patcher",
            "--serviceaccount=shop:drill",
        ])?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["cordon", node],
            "cannot get resource \"nodes\" in API group \"\" at the cluster scope",
        )?;
        // Reading nodes cluster-wide is not patching them.
        sandbox.kubectl_ok(&[
            "create",
            "clusterrole",
            "node-reader",
            "--verb=get,list",
            "--resource=nodes",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "clusterrolebinding",
            "drill-reads-nodes",
            "--clusterrole=node-reader",
            "--serviceaccount=shop:drill",
        ])?;
        kubectl_as_ok(&sandbox, &as_drill, &["get", "nodes"])?;
        // kubectl cordon reports a refused patch but exits 0 (as it does against any
        // API server): the message and the unchanged node are what tell.
        let out = kubectl_as(&sandbox, &as_drill, &["cordon", node])?;
        assert!(
            out.stderr.contains(&format!(
                "error: unable to cordon node \"{node}\": nodes \"{node}\" is forbidden: User \"{SA_USER}\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
            )),
            "{out:?}"
        );
        let out = sandbox.kubectl_ok(&["get", "node", node])?;
        assert!(!out.contains("SchedulingDisabled"), "{out}");
        sandbox.kubectl_ok(&[
            "create",
            "clusterrole",
            "node-cordoner",
            "--verb=get,patch",
            "--resource=nodes",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "clusterrolebinding",
            "drill-cordons-nodes",
            "--clusterrole=node-cordoner",
            "--serviceaccount=shop:drill",
        ])?;
        let out = kubectl_as_ok(&sandbox, &as_drill, &["cordon", node])?;
        assert!(out.contains(&format!("node/{node} cordoned")), "{out}");
        let out = sandbox.kubectl_ok(&["get", "node", node])?;
        assert!(out.contains("Ready,SchedulingDisabled"), "{out}");
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_resource_names_limit_a_role_to_the_named_pods() -> Result<()> {
    let (sandbox, front) = shop().await?;
    tokio::task::block_in_place(|| -> Result<()> {
        sandbox.kubectl_ok(&[
            "create",
            "role",
            "pod-a-reader",
            "-n",
            "shop",
            "--verb=get",
            "--resource=pods",
            "--resource-name=a",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-reads-a",
            "-n",
            "shop",
            "--role=pod-a-reader",
            "--serviceaccount=shop:drill",
        ])?;
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        let out = kubectl_as_ok(&sandbox, &as_drill, &["get", "pod", "a", "-n", "shop"])?;
        assert!(out.lines().any(|l| l.starts_with("a ")), "{out}");
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["get", "pod", "b", "-n", "shop"],
            &forbidden_in_shop("get", "pods", Some("b")),
        )?;
        // resourceNames cannot restrict a list: listing is not granted.
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["get", "pods", "-n", "shop"],
            &forbidden_in_shop("list", "pods", None),
        )?;
        assert!(can_i(
            &sandbox,
            &as_drill,
            &["get", "pods/a", "-n", "shop"]
        )?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["get", "pods/b", "-n", "shop"]
        )?);
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_a_cluster_role_bound_by_a_role_binding_grants_in_its_namespace_only() -> Result<()> {
    let (sandbox, front) = shop().await?;
    tokio::task::block_in_place(|| -> Result<()> {
        sandbox.kubectl_ok(&[
            "create",
            "clusterrole",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-reads-pods",
            "-n",
            "shop",
            "--clusterrole=pod-reader",
            "--serviceaccount=shop:drill",
        ])?;
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        let out = kubectl_as_ok(&sandbox, &as_drill, &["get", "pods", "-n", "shop"])?;
        assert!(out.lines().any(|l| l.starts_with("a ")), "{out}");
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["get", "pods", "-n", "butterfly"],
            &format!(
                "Error from server (Forbidden): pods is forbidden: User \"{SA_USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"butterfly\""
            ),
        )?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &["get", "pods", "--all-namespaces"],
            &format!(
                "Error from server (Forbidden): pods is forbidden: User \"{SA_USER}\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
            ),
        )?;
        assert!(can_i(&sandbox, &as_drill, &["list", "pods", "-n", "shop"])?);
        assert!(!can_i(
            &sandbox,
            &as_drill,
            &["list", "pods", "-n", "butterfly"]
        )?);
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_a_bogus_token_is_unauthorized() -> Result<()> {
    let sandbox = tls_sandbox().await?;
    let front = TlsFront::start(&sandbox)?;
    tokio::task::block_in_place(|| -> Result<()> {
        let bogus = token_kubeconfig(&sandbox, &front, "firedrill-sa.not-a-token-anyone-minted")?;
        // Without cached discovery, kubectl's first request is discovery, whose 401 it
        // reports without reading the Status body (client-go's `Result.Raw`).
        kubectl_as_refused(
            &sandbox,
            &bogus,
            &["get", "pods"],
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)",
        )?;
        // With discovery cached (by a valid token), the 401 of the request itself is
        // decoded: `Unauthorized`, the Status message.
        let manifest = sandbox.dir.path().join("drill.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: drill\n  namespace: butterfly\n",
        )?;
        sandbox.kubectl_ok(&["apply", "-f", &manifest.display().to_string()])?;
        let token = sandbox.kubectl_ok(&["create", "token", "drill", "-n", "butterfly"])?;
        let valid = token_kubeconfig(&sandbox, &front, token.trim())?;
        kubectl_as_ok(&sandbox, &valid, &["api-resources", "-o", "name"])?;
        for args in [
            &["get", "pods"][..],
            &["get", "nodes"][..],
            &["delete", "pod", "kafka-0"][..],
        ] {
            kubectl_as_refused(
                &sandbox,
                &bogus,
                args,
                "error: You must be logged in to the server (Unauthorized)",
            )?;
        }
        let (server, ca) = front.flags(&sandbox);
        let out = sandbox.kubectl(&[&server, &ca, "--token=bogus", "get", "pods"])?;
        assert!(!out.success, "{out:?}");
        assert!(
            out.stderr
                .contains("error: You must be logged in to the server (Unauthorized)"),
            "{out:?}"
        );
        // Nothing was deleted on the bogus token's say-so.
        sandbox.kubectl_ok(&["get", "pod", "kafka-0"])?;
        Ok(())
    })?;
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_watching_pods_needs_the_watch_verb() -> Result<()> {
    let (sandbox, front) = shop().await?;
    // kubectl ends the watch itself after the request timeout.
    let watch = [
        "get",
        "pods",
        "-n",
        "shop",
        "--watch",
        "--request-timeout=3s",
    ];
    tokio::task::block_in_place(|| -> Result<()> {
        grant_pod_reader(&sandbox)?;
        let as_drill = token_kubeconfig(&sandbox, &front, &create_token(&sandbox)?)?;
        kubectl_as_refused(
            &sandbox,
            &as_drill,
            &watch,
            &forbidden_in_shop("watch", "pods", None),
        )?;
        sandbox.kubectl_ok(&[
            "create",
            "role",
            "pod-watcher",
            "-n",
            "shop",
            "--verb=watch",
            "--resource=pods",
        ])?;
        sandbox.kubectl_ok(&[
            "create",
            "rolebinding",
            "drill-watches-pods",
            "-n",
            "shop",
            "--role=pod-watcher",
            "--serviceaccount=shop:drill",
        ])?;
        let started = std::time::Instant::now();
        let out = kubectl_as(&sandbox, &as_drill, &watch)?;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{out:?}"
        );
        assert!(!out.stderr.contains("Forbidden"), "{out:?}");
        assert!(out.stdout.lines().any(|l| l.starts_with("a ")), "{out:?}");
        assert!(out.stdout.lines().any(|l| l.starts_with("b ")), "{out:?}");
        Ok(())
    })?;
    sandbox.stop().await
}
