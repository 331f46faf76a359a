//! The one place capabilities are registered: each WIT import linked to its view of the
//! call state, one line per capability. One linker serves both WIT versions: 0.2.0
//! imports the 0.1.0 capability interfaces by their 0.1.0 names.

use wasmtime::component::Linker;

use crate::bindings;
use crate::capabilities::clock::Clock;
use crate::capabilities::log::{Log, LogView};
use crate::capabilities::{
    Cap, TypesOnly, View, cluster::Cluster, evidence::EvidenceSink, http::Http, postgres::Postgres,
    redis::Redis, state::StateStore,
};
use crate::store::HostState;

/// Links every capability import of the scenario world.
pub(crate) fn link_capabilities(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // 0.2.0 adds a types-only interface; every capability is 0.1.0's, shared by both.
    bindings::types::add_to_linker::<_, TypesOnly>(linker, |_| TypesOnly)?;
    bindings::v0_2::types::add_to_linker::<_, TypesOnly>(linker, |_| TypesOnly)?;
    bindings::clock::add_to_linker::<_, Clock>(linker, |_| Clock)?;
    bindings::log::add_to_linker::<_, Log>(linker, |s| LogView {
        guard: &mut s.guard,
        budget: &mut s.log,
    })?;
    bindings::cluster::add_to_linker::<_, Cap<dyn Cluster>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.cluster)
    })?;
    bindings::http::add_to_linker::<_, Cap<dyn Http>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.http)
    })?;
    bindings::postgres::add_to_linker::<_, Cap<dyn Postgres>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.postgres)
    })?;
    bindings::redis::add_to_linker::<_, Cap<dyn Redis>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.redis)
    })?;
    bindings::state::add_to_linker::<_, Cap<dyn StateStore>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.state)
    })?;
    bindings::evidence::add_to_linker::<_, Cap<dyn EvidenceSink>>(linker, |s| {
        View::of(&mut s.guard, &s.backends.evidence)
    })?;
    Ok(())
}
