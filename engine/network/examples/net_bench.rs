//! Benchmark of network setup on the real kernel: creates one network, connects N namespaces
//! (made with `ip netns add`), then tears everything down, printing the time of each phase.
//! Run as root through `bench/network-setup`; it uses 10.203.200.0/24 and cleans up after itself.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use berth_network::firewall::Firewall;
use berth_network::ipam::{SubnetRequest, default_pools};
use berth_network::manager::{EndpointSpec, ManagerConfig, NetworkManager, NetworkSpec};
use berth_network::netlink::RtNetlink;

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(20), |n| n.parse())?;
    let root = tempfile::tempdir()?;
    let manager = NetworkManager::open(ManagerConfig {
        root: root.path().to_path_buf(),
        proc_sys: "/proc/sys".into(),
        host_routes: RtNetlink.ipv4_routes()?,
        host_routes6: RtNetlink.ipv6_routes()?,
        pools: default_pools(),
        pools6: berth_network::ipam6::default_pools6(),
        firewall: Firewall::detect(&std::env::var("PATH").unwrap_or_default()),
        netlink: Arc::new(RtNetlink),
        upstreams: vec![],
    })?;
    let pid = std::process::id();
    let namespaces = Namespaces((0..count).map(|i| format!("bench-{pid}-{i}")).collect());
    for ns in &namespaces.0 {
        Command::new("ip").args(["netns", "add", ns]).status()?;
    }
    let spec = NetworkSpec {
        name: format!("bench-{pid}"),
        ipam: SubnetRequest {
            subnet: Some("10.203.200.0/24".parse()?),
            ..Default::default()
        },
        driver_opts: [(
            "com.docker.network.bridge.name".to_string(),
            format!("bb{pid}"),
        )]
        .into(),
        ..Default::default()
    };
    let t = Instant::now();
    let net = manager.create_network(spec).await?;
    println!("create_network: {:?}", t.elapsed());
    let t = Instant::now();
    for (i, ns) in namespaces.0.iter().enumerate() {
        let ep = EndpointSpec {
            id: format!("c{i}"),
            netns: PathBuf::from("/run/netns").join(ns),
            names: vec!["svc".into()],
            ..Default::default()
        };
        manager.connect(&net.name, ep).await?;
    }
    let connect = t.elapsed();
    println!(
        "connect x{count}: {connect:?} ({:?} each)",
        connect / count.max(1) as u32
    );
    let t = Instant::now();
    for i in 0..count {
        manager.disconnect(&net.name, &format!("c{i}")).await?;
    }
    println!("disconnect x{count}: {:?}", t.elapsed());
    let t = Instant::now();
    manager.remove_network(&net.name).await?;
    println!("remove_network: {:?}", t.elapsed());
    Ok(())
}
