// The cluster section of the status page, from the metrics port's /cluster (the
// `cluster-status` document): the cluster's state (degraded, with why and since when), its
// lease TTL and etcd endpoints, and one row per member with links to the members' own status
// pages, this node marked. Hidden on a node without cluster flags.

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function memberCell(row, field, content) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (typeof content === "string") td.textContent = content;
  else td.appendChild(content);
  row.appendChild(td);
  return td;
}

// A link to the status page of the member whose metrics port is at `address` (host:port),
// with this page's scheme (every node of a cluster serves TLS or none does).
function statusLink(address) {
  const a = document.createElement("a");
  a.href = `${window.location.protocol}//${address}/`;
  a.textContent = address;
  return a;
}

function since(ms) {
  return new Date(ms).toLocaleTimeString("en-GB");
}

function renderMembers(members) {
  const rows = members.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.node = m.node_id;
    if (m.self) tr.className = "self";
    memberCell(tr, "node_id", m.self ? `${m.node_id} (this node)` : m.node_id);
    memberCell(tr, "flight", m.flight);
    memberCell(tr, "metrics", statusLink(m.metrics));
    memberCell(tr, "meta", m.meta);
    memberCell(tr, "state", m.state).className = m.state === "alive" ? "ready" : "lag";
    memberCell(tr, "version", m.version);
    memberCell(tr, "started", m.started_at_ms ? since(m.started_at_ms) : "");
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    memberCell(tr, "empty", "no members listed yet").colSpan = 7;
    rows.push(tr);
  }
  document.querySelector("#members tbody").replaceChildren(...rows);
}

// Shows `cluster` (the /cluster document), or hides the section for a single node.
export function renderCluster(cluster) {
  const section = document.getElementById("cluster");
  section.hidden = !cluster || cluster.mode !== "cluster";
  if (section.hidden) return;
  const state = document.getElementById("cluster-state");
  state.textContent = cluster.state;
  state.className = cluster.degraded ? "down" : "ok";
  const facts = [
    `cluster ${cluster.cluster}`,
    `${cluster.members.length} members`,
    `lease TTL ${cluster.lease_ttl_seconds} s`,
    `search timeout ${cluster.search_timeout_ms} ms`,
    `etcd ${cluster.etcd.join(", ")}`,
  ];
  if (cluster.rejoins > 0) facts.push(`${cluster.rejoins} rejoins`);
  document.getElementById("cluster-facts").textContent = facts.join(" · ");
  const degraded = document.getElementById("cluster-degraded");
  degraded.hidden = !cluster.degraded;
  if (cluster.degraded) {
    degraded.replaceChildren(
      text("b", "Degraded: "),
      text(
        "span",
        `etcd does not answer since ${since(cluster.degraded_since_ms)} (${cluster.degraded_reason}); ` +
          "this node serves with the member list it last saw and rejoins by itself",
      ),
    );
  }
  renderMembers(cluster.members);
}
