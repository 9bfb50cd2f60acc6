import { useEffect, useMemo, useState } from "react";
import dagre from "@dagrejs/dagre";
import { flowGraph, flowLogs, type FlowLog, type Graph, type GraphEdge, type GraphNode, type Whoami } from "../api";
import { navigate, setParams, timeRange, useLocation } from "../route";
import { bytes, deciding, Empty, endpointLabel, ErrorNote, NoFlowAccess, ruleLabel, Verdict } from "../flows";

const nodeH = 40;

/** What a node says: networks by what they are, workloads by their aggregated name. */
function nodeLabel(n: GraphNode): string {
  if (n.kind === "network") return n.name === "pub" ? "internet" : n.name === "pvt" ? "private network" : n.name;
  return n.name;
}

/** A node is as wide as its label (monospace-ish estimate), within bounds. */
function nodeWidth(n: GraphNode): number {
  return Math.min(300, Math.max(110, 44 + 7.4 * nodeLabel(n).length));
}

interface Laid {
  nodes: (GraphNode & { x: number; y: number; w: number })[];
  edges: (GraphEdge & { points: { x: number; y: number }[] })[];
  width: number;
  height: number;
}

function layout(g: Graph): Laid {
  const d = new dagre.graphlib.Graph({ multigraph: false });
  d.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 90, marginx: 20, marginy: 20 });
  d.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) d.setNode(n.id, { width: nodeWidth(n), height: nodeH });
  for (const e of g.edges) if (e.source !== e.target) d.setEdge(e.source, e.target);
  dagre.layout(d);
  const nodes = g.nodes.map((n) => ({ ...n, x: d.node(n.id).x, y: d.node(n.id).y, w: nodeWidth(n) }));
  const edges = g.edges.map((e) => {
    if (e.source === e.target) {
      // A loop: traffic within one node, leaving its right side and
      // coming back to its top.
      const n = d.node(e.source);
      const right = n.x + (n.width ?? 0) / 2;
      const top = n.y - nodeH / 2;
      return { ...e, points: [{ x: right, y: n.y }, { x: right + 34, y: top - 34 }, { x: right - 24, y: top }] };
    }
    return { ...e, points: d.edge(e.source, e.target).points };
  });
  const gr = d.graph();
  return { nodes, edges, width: Math.max((gr.width ?? 0) + 60, 300), height: Math.max(gr.height ?? 0, 200) };
}

function verdict(e: GraphEdge): "allowed" | "denied" | "both" {
  if (e.allowed > 0 && e.denied > 0) return "both";
  return e.denied > 0 ? "denied" : "allowed";
}

function pathOf(e: GraphEdge & { points: { x: number; y: number }[] }): string {
  const p = e.points;
  if (e.source === e.target) return `M${p[0].x},${p[0].y} Q${p[1].x},${p[1].y} ${p[2].x},${p[2].y}`;
  return p.map((q, i) => `${i === 0 ? "M" : "L"}${q.x},${q.y}`).join(" ");
}

export function ServiceGraph({ me }: { me: Whoami }) {
  const url = useLocation();
  const focus = url.searchParams.get("focus") ?? "";
  const selected = url.searchParams.get("sel") ?? "";
  const rangeKey = url.searchParams.get("range") ?? "1h";
  const [graph, setGraph] = useState<Graph | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    if (!me.logs.flows) return;
    let live = true;
    const tr = timeRange(url);
    setError("");
    flowGraph({ from: tr.from, to: tr.to, focus: focus || undefined })
      .then((g) => live && setGraph(g))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focus, rangeKey, me.logs.flows]);

  const laid = useMemo(() => (graph ? layout(graph) : null), [graph]);
  if (!me.logs.flows) return <NoFlowAccess user={me.user} />;

  const maxBytes = Math.max(1, ...(graph?.edges ?? []).map((e) => e.bytes + e.allowed + e.denied));
  const width = (e: GraphEdge) => 1.5 + 5 * Math.sqrt((e.bytes + e.allowed + e.denied) / maxBytes);
  const select = (id: string) => setParams({ sel: id === selected ? undefined : id }, true);
  const drill = (n: GraphNode) => n.drillable && setParams({ focus: n.namespace, sel: undefined });

  return (
    <section aria-labelledby="graph-title" className="graph-page">
      <div className="page-head">
        <h1 id="graph-title">Service graph</h1>
        <nav aria-label="Graph level" className="crumbs">
          {focus ? (
            <>
              <a
                href="?"
                onClick={(e) => {
                  e.preventDefault();
                  setParams({ focus: undefined, sel: undefined });
                }}
              >
                All namespaces
              </a>{" "}
              › <span aria-current="page">{focus}</span>
            </>
          ) : (
            <span aria-current="page">All namespaces</span>
          )}
        </nav>
        <Legend />
      </div>
      {error && <ErrorNote error={error} />}
      {!graph && !error && <p className="muted">Loading the graph…</p>}
      {graph && graph.nodes.length === 0 && (
        <Empty title="No traffic in this time range">
          Flow logs are flushed every 15 s by default and reach the log store within about half a minute. Widen the time range,
          or check that calico-node writes flow logs (flowLogsFileEnabled in FelixConfiguration).
        </Empty>
      )}
      {laid && graph && graph.nodes.length > 0 && (
        <div className="graph-layout">
          <div className="graph-canvas">
            <svg
              role="group"
              aria-label={`Traffic between ${focus ? `the workloads of ${focus} and other namespaces` : "namespaces"}`}
              viewBox={`0 -40 ${laid.width} ${laid.height + 40}`}
              width={laid.width}
              height={laid.height + 40}
            >
              <defs>
                {(["allowed", "denied", "both"] as const).map((v) => (
                  <marker key={v} id={`arrow-${v}`} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse">
                    <path d="M0,0 L10,5 L0,10 z" className={`arrowhead ${v}`} />
                  </marker>
                ))}
              </defs>
              {laid.edges.map((e) => {
                const id = `edge:${e.source}>${e.target}`;
                const v = verdict(e);
                const from = graph.nodes.find((n) => n.id === e.source)!;
                const to = graph.nodes.find((n) => n.id === e.target)!;
                return (
                  <g
                    key={id}
                    className={`edge ${v}${selected === id ? " selected" : ""}`}
                    role="button"
                    tabIndex={0}
                    aria-pressed={selected === id}
                    aria-label={`${nodeLabel(from)} to ${nodeLabel(to)}: ${e.allowed} allowed, ${e.denied} denied`}
                    onClick={() => select(id)}
                    onKeyDown={(ev) => (ev.key === "Enter" || ev.key === " ") && (ev.preventDefault(), select(id))}
                  >
                    <path d={pathOf(e)} className="hit" />
                    <path d={pathOf(e)} className="line" strokeWidth={width(e)} markerEnd={`url(#arrow-${v})`} />
                    <title>{`${nodeLabel(from)} → ${nodeLabel(to)}: ${e.allowed} allowed, ${e.denied} denied, ${bytes(e.bytes)}`}</title>
                  </g>
                );
              })}
              {laid.nodes.map((n) => {
                const id = `node:${n.id}`;
                return (
                  <g
                    key={n.id}
                    className={`node ${n.kind}${selected === id ? " selected" : ""}`}
                    transform={`translate(${n.x - n.w / 2},${n.y - nodeH / 2})`}
                    role="button"
                    tabIndex={0}
                    aria-pressed={selected === id}
                    aria-label={`${n.kind} ${nodeLabel(n)}${n.drillable ? " (double-click or press D to open)" : ""}`}
                    onClick={() => select(id)}
                    onDoubleClick={() => drill(n)}
                    onKeyDown={(ev) => {
                      if (ev.key === "Enter" || ev.key === " ") {
                        ev.preventDefault();
                        select(id);
                      } else if (ev.key === "d" || ev.key === "D") drill(n);
                    }}
                  >
                    <rect width={n.w} height={nodeH} rx={n.kind === "namespace" ? 8 : 20} />
                    <text x={12} y={nodeH / 2 + 1} dominantBaseline="middle">
                      <tspan className="kind">{n.kind === "namespace" ? "ns" : n.kind === "workload" ? "wl" : "net"}</tspan>{" "}
                      {nodeLabel(n).length > 36 ? nodeLabel(n).slice(0, 35) + "…" : nodeLabel(n)}
                    </text>
                    <title>{`${n.kind} ${n.namespace && n.kind !== "namespace" ? n.namespace + "/" : ""}${nodeLabel(n)}`}</title>
                  </g>
                );
              })}
            </svg>
          </div>
          <SidePanel graph={graph} selected={selected} focus={focus} />
        </div>
      )}
    </section>
  );
}

function Legend() {
  return (
    <ul className="legend" aria-label="Legend">
      <li>
        <svg width="28" height="10" aria-hidden="true">
          <line x1="0" y1="5" x2="28" y2="5" className="legend-line allowed" />
        </svg>
        allowed
      </li>
      <li>
        <svg width="28" height="10" aria-hidden="true">
          <line x1="0" y1="5" x2="28" y2="5" className="legend-line denied" />
        </svg>
        denied (dashed)
      </li>
      <li>
        <svg width="28" height="10" aria-hidden="true">
          <line x1="0" y1="5" x2="28" y2="5" className="legend-line both" />
        </svg>
        both (dotted)
      </li>
    </ul>
  );
}

/** The flows of the selected node or edge, and the policies that decided them. */
function SidePanel({ graph, selected, focus }: { graph: Graph; selected: string; focus: string }) {
  const url = useLocation();
  const [flows, setFlows] = useState<FlowLog[] | null>(null);
  const [error, setError] = useState("");
  const rangeKey = url.searchParams.get("range") ?? "1h";

  const target = useMemo(() => {
    if (selected.startsWith("node:")) {
      const n = graph.nodes.find((x) => x.id === selected.slice(5));
      return n ? { kind: "node" as const, n } : null;
    }
    if (selected.startsWith("edge:")) {
      const [s, t] = selected.slice(5).split(">");
      const e = graph.edges.find((x) => x.source === s && x.target === t);
      const from = graph.nodes.find((x) => x.id === s);
      const to = graph.nodes.find((x) => x.id === t);
      return e && from && to ? { kind: "edge" as const, e, from, to } : null;
    }
    return null;
  }, [graph, selected]);

  useEffect(() => {
    setFlows(null);
    setError("");
    if (!target) return;
    const tr = timeRange(url);
    const q =
      target.kind === "node"
        ? target.n.kind === "workload"
          ? { namespace: target.n.namespace, name: target.n.name }
          : target.n.kind === "namespace"
            ? { namespace: target.n.namespace }
            : { name: target.n.name }
        : { ...ends("source", target.from), ...ends("dest", target.to) };
    let live = true;
    flowLogs({ ...q, from: tr.from, to: tr.to, page_size: 50 })
      .then((p) => live && setFlows(p.items))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [target, rangeKey]);

  if (!target) {
    return (
      <aside className="side-panel" aria-label="Details">
        <p className="muted">
          Select a {focus ? "workload, namespace" : "namespace"} or an edge to see its flows and the policies that decided
          them. {focus ? "" : "Double-click a namespace (or press D on it) to see its workloads."}
        </p>
      </aside>
    );
  }
  const title =
    target.kind === "node" ? `${target.n.kind} ${nodeLabel(target.n)}` : `${nodeLabel(target.from)} → ${nodeLabel(target.to)}`;
  // Each end decides for itself: the source node its egress, the
  // destination node its ingress.
  type Decided = { reporter: string; tier: string; name: string; action: string; rule: string; count: number };
  const policies = new Map<string, Decided>();
  for (const f of flows ?? []) {
    const d = deciding(f);
    if (!d) continue;
    const k = `${f.reporter}|${d.tier}|${d.name}|${d.action}|${d.rule}`;
    const p = policies.get(k) ?? { ...d, reporter: f.reporter, count: 0 };
    p.count++;
    policies.set(k, p);
  }
  const bySide = (side: string) => [...policies.values()].filter((p) => p.reporter === side);
  const flowsLink = () => {
    const p = new URLSearchParams();
    p.set("range", rangeKey);
    if (target.kind === "node" && target.n.namespace) p.set("namespace", target.n.namespace);
    if (target.kind === "node" && target.n.kind !== "namespace") p.set("name", target.n.name);
    if (target.kind === "edge") {
      if (target.to.namespace) p.set("namespace", target.to.namespace);
      if (target.to.kind === "workload") p.set("name", target.to.name);
      if (target.e.denied > 0 && target.e.allowed === 0) p.set("action", "deny");
    }
    return "/flows?" + p.toString();
  };
  return (
    <aside className="side-panel" aria-label="Details">
      <h2>{title}</h2>
      {target.kind === "edge" && (
        <p>
          <span className="verdict allowed">✓ {target.e.allowed} allowed</span>{" "}
          <span className="verdict denied">✕ {target.e.denied} denied</span> · {bytes(target.e.bytes)} · ports{" "}
          {target.e.ports.join(", ") || "-"}
        </p>
      )}
      {error && <ErrorNote error={error} />}
      {flows === null && !error && <p className="muted">Loading flows…</p>}
      {flows && (
        <>
          {policies.size === 0 && <p className="muted">No policies recorded on these flows.</p>}
          {(["dst", "src"] as const).map(
            (side) =>
              bySide(side).length > 0 && (
                <div key={side}>
                  <h3 className="small-title">{side === "dst" ? "Decided at the destination (ingress)" : "Decided at the source (egress)"}</h3>
                  <ul className="policies">
                    {bySide(side).map((p) => (
                      <li key={`${p.tier}|${p.name}|${p.action}|${p.rule}`}>
                        <Verdict action={p.action} /> <strong>{p.name}</strong>{" "}
                        <span className="muted">
                          tier {p.tier}, {ruleLabel(p)}
                        </span>{" "}
                        ×{p.count}
                      </li>
                    ))}
                  </ul>
                </div>
              ),
          )}
          <h3 className="small-title">Newest flows</h3>
          {flows.length === 0 ? (
            <p className="muted">No flow logs in this range.</p>
          ) : (
            <ul className="side-flows">
              {flows.slice(0, 20).map((f, i) => (
                <li key={i}>
                  <Verdict action={f.action} /> {endpointLabel(f.source_type, f.source_namespace, f.source_name_aggr)} →{" "}
                  {endpointLabel(f.dest_type, f.dest_namespace, f.dest_name_aggr)}:{f.dest_port ?? "-"}{" "}
                  <span className="muted">({f.reporter === "dst" ? "dest" : "src"})</span>
                </li>
              ))}
            </ul>
          )}
          <a
            href={flowsLink()}
            onClick={(e) => {
              e.preventDefault();
              navigate(flowsLink());
            }}
          >
            Open in Flows →
          </a>
        </>
      )}
    </aside>
  );
}

function ends(side: "source" | "dest", n: GraphNode): Record<string, string> {
  if (n.kind === "workload") return { [`${side}_namespace`]: n.namespace!, [`${side}_name`]: n.name };
  if (n.kind === "namespace") return { [`${side}_namespace`]: n.namespace! };
  return n.namespace ? { [`${side}_namespace`]: n.namespace, [`${side}_name`]: n.name } : { [`${side}_name`]: n.name };
}
