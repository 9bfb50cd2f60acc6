import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import dagre from "@dagrejs/dagre";
import { endpoints, flowGraph, flowLogs, type EndpointInfo, type FlowLog, type Graph, type GraphEdge, type GraphNode, type Whoami } from "../api";
import { navigate, setParams, timeRange, useLocation } from "../route";
import { bytes, deciding, Empty, endpointLabel, ErrorNote, NoFlowAccess, ruleLabel, Verdict } from "../flows";
import { captureLink } from "./Captures";

const nodeH = 40;
// Zoom bounds; a graph wider than its canvas is fitted down to minFit at
// most (labels at 60% are still readable), and scrolls beyond that.
const minFit = 0.6;
const minZoom = 0.2;
const maxZoom = 2;
// Wider than this, a ranked layout does not fit a canvas at minFit.
const maxRankedWidth = 1600;

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
  edges: (GraphEdge & { d: string })[];
  width: number;
  height: number;
  /** Nodes left out: not talking with the opened namespace. */
  hidden?: number;
}

type Point = { x: number; y: number };

/** A loop: traffic within one node, leaving its right side and coming back to its top. */
function loopPath(x: number, y: number, w: number): string {
  const right = x + w / 2;
  const top = y - nodeH / 2;
  return `M${right},${y} Q${right + 34},${top - 34} ${right - 24},${top}`;
}

function polyline(p: Point[]): string {
  return p.map((q, i) => `${i === 0 ? "M" : "L"}${q.x},${q.y}`).join(" ");
}

/** The graph laid out by rank (dagre, left to right): the namespace level. */
function layout(g: Graph): Laid {
  const d = new dagre.graphlib.Graph({ multigraph: false });
  d.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 90, marginx: 20, marginy: 20 });
  d.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) d.setNode(n.id, { width: nodeWidth(n), height: nodeH });
  for (const e of g.edges) if (e.source !== e.target) d.setEdge(e.source, e.target);
  dagre.layout(d);
  const nodes = g.nodes.map((n) => ({ ...n, x: d.node(n.id).x, y: d.node(n.id).y, w: nodeWidth(n) }));
  const edges = g.edges.map((e) => {
    const n = d.node(e.source);
    return { ...e, d: e.source === e.target ? loopPath(n.x, n.y, n.width ?? 0) : polyline(d.edge(e.source, e.target).points) };
  });
  const gr = d.graph();
  return { nodes, edges, width: Math.max((gr.width ?? 0) + 60, 300), height: Math.max(gr.height ?? 0, 200) };
}

const byName = (a: GraphNode, b: GraphNode) => nodeLabel(a).localeCompare(nodeLabel(b), undefined, { numeric: true });

/**
 * The graph opened into one namespace, in three columns: what sends to
 * its workloads on the left, the workloads in the middle, what they send
 * to on the right (the rest below it). Rank layouts turn services that
 * call each other round in a ring into one long chain; columns keep the
 * namespace's workloads together at any size. Callers and callees are
 * ordered by the workloads they talk to, to keep lines short.
 */
function focusLayout(g: Graph, focus: string): Laid {
  const inside = g.nodes.filter((n) => n.kind === "workload" && n.namespace === focus).sort(byName);
  const isIn = new Set(inside.map((n) => n.id));
  const row = new Map(inside.map((n, i) => [n.id, i]));
  const callers = new Map<string, number[]>(), callees = new Map<string, number[]>();
  for (const e of g.edges) {
    if (!isIn.has(e.source) && isIn.has(e.target)) callers.set(e.source, [...(callers.get(e.source) ?? []), row.get(e.target)!]);
    if (isIn.has(e.source) && !isIn.has(e.target)) callees.set(e.target, [...(callees.get(e.target) ?? []), row.get(e.source)!]);
  }
  const mean = (xs: number[] | undefined) => (xs && xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Infinity);
  const order = (ids: Map<string, number[]>) => (a: GraphNode, b: GraphNode) => mean(ids.get(a.id)) - mean(ids.get(b.id)) || byName(a, b);
  // Only what the namespace's workloads talk with: the traffic between
  // two other namespaces is the namespace level's to show.
  const others = g.nodes.filter((n) => !isIn.has(n.id) && (callers.has(n.id) || callees.has(n.id)));
  const left = others.filter((n) => callers.has(n.id)).sort(order(callers));
  const right = others.filter((n) => !callers.has(n.id)).sort(order(callees));
  const gap = 16, margin = 20, colGap = 140;
  const colW = (ns: GraphNode[]) => Math.max(0, ...ns.map(nodeWidth));
  const wl = colW(left), wi = colW(inside), wr = colW(right);
  const xs = [margin + wl / 2, margin + wl + (wl ? colGap : 0) + wi / 2, margin + wl + (wl ? colGap : 0) + wi + colGap + wr / 2];
  const colH = (k: number) => k * (nodeH + gap) - gap;
  const height = Math.max(colH(left.length), colH(inside.length), colH(right.length)) + 2 * margin;
  const place = (ns: GraphNode[], x: number) => {
    const top = (height - colH(ns.length)) / 2;
    return ns.map((n, i) => ({ ...n, x, y: top + i * (nodeH + gap) + nodeH / 2, w: nodeWidth(n) }));
  };
  const nodes = [...place(left, xs[0]), ...place(inside, xs[1]), ...place(right, xs[2])];
  const at = new Map(nodes.map((n) => [n.id, n]));
  const edges = g.edges.filter((e) => isIn.has(e.source) || isIn.has(e.target)).map((e) => {
    const a = at.get(e.source)!, b = at.get(e.target)!;
    if (a.id === b.id) return { ...e, d: loopPath(a.x, a.y, a.w) };
    if (a.x === b.x) {
      // Within a column: an arc out to its right, wider the further apart.
      const x = a.x + Math.max(a.w, b.w) / 2;
      const bulge = 30 + Math.abs(b.y - a.y) * 0.35;
      return { ...e, d: `M${a.x + a.w / 2},${a.y} C${x + bulge},${a.y} ${x + bulge},${b.y} ${b.x + b.w / 2},${b.y}` };
    }
    const forward = a.x < b.x;
    const x1 = a.x + (forward ? a.w / 2 : -a.w / 2), x2 = b.x + (forward ? -b.w / 2 : b.w / 2);
    const mid = (x1 + x2) / 2;
    return { ...e, d: `M${x1},${a.y} C${mid},${a.y} ${mid},${b.y} ${x2},${b.y}` };
  });
  const width = xs[2] + wr / 2 + margin + 80;
  return { nodes, edges, width, height, hidden: g.nodes.length - nodes.length };
}

function verdict(e: GraphEdge): "allowed" | "denied" | "both" {
  if (e.allowed > 0 && e.denied > 0) return "both";
  return e.denied > 0 ? "denied" : "allowed";
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

  const laid = useMemo(() => {
    if (!graph) return null;
    // Ranks read best while they fit; opened into a namespace whose
    // ranks run long, columns.
    const ranked = layout(graph);
    const opened = graph.focus && graph.nodes.some((n) => n.kind === "workload" && n.namespace === graph.focus);
    return opened && ranked.width > maxRankedWidth ? focusLayout(graph, graph.focus!) : ranked;
  }, [graph]);
  // Zoom: null fits the graph to the canvas (never below minFit, where
  // labels stop being readable: the canvas scrolls instead).
  const [zoom, setZoom] = useState<number | null>(null);
  const canvas = useRef<HTMLDivElement>(null);
  const [canvasWidth, setCanvasWidth] = useState(0);
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setCanvasWidth(el.clientWidth));
    ro.observe(el);
    setCanvasWidth(el.clientWidth);
    return () => ro.disconnect();
  }, [laid]);
  useEffect(() => setZoom(null), [focus]);
  // The canvas is as tall as the window allows (style.css: 100vh - 180px).
  const fit =
    laid && canvasWidth > 0
      ? Math.min(1, Math.max(minFit, Math.min((canvasWidth - 2) / laid.width, (window.innerHeight - 182) / (laid.height + 40))))
      : 1;
  const scale = zoom ?? fit;
  // Opened into a namespace: its workloads in view, wherever the layout
  // put them.
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el || !laid || !focus) return;
    const own = laid.nodes.filter((n) => n.kind === "workload" && n.namespace === focus);
    if (own.length === 0) return;
    const xs = own.map((n) => n.x), ys = own.map((n) => n.y + 40);
    const cx = ((Math.min(...xs) + Math.max(...xs)) / 2) * scale, cy = ((Math.min(...ys) + Math.max(...ys)) / 2) * scale;
    el.scrollLeft = Math.max(0, cx - el.clientWidth / 2);
    el.scrollTop = Math.max(0, cy - el.clientHeight / 2);
  }, [laid, focus, scale]);
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
          <div className="graph-frame">
            <div className="zoom" role="group" aria-label="Zoom">
              <button type="button" className="ghost" aria-label="Zoom out" disabled={scale <= minZoom} onClick={() => setZoom(Math.max(minZoom, scale / 1.25))}>
                −
              </button>
              <button type="button" className="ghost" aria-label="Fit to the canvas" aria-pressed={zoom === null} onClick={() => setZoom(null)}>
                {Math.round(scale * 100)}%
              </button>
              <button type="button" className="ghost" aria-label="Zoom in" disabled={scale >= maxZoom} onClick={() => setZoom(Math.min(maxZoom, scale * 1.25))}>
                +
              </button>
            </div>
            <div className="graph-canvas" ref={canvas}>
              <svg
                role="group"
                aria-label={`Traffic between ${focus ? `the workloads of ${focus} and other namespaces` : "namespaces"}`}
                viewBox={`0 -40 ${laid.width} ${laid.height + 40}`}
                width={laid.width * scale}
                height={(laid.height + 40) * scale}
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
                      <path d={e.d} className="hit" />
                      <path d={e.d} className="line" strokeWidth={width(e)} markerEnd={`url(#arrow-${v})`} />
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
            {!!laid.hidden && (
              <p className="muted graph-note">
                {laid.hidden} {laid.hidden === 1 ? "node" : "nodes"} with no traffic to or from {focus}'s workloads not shown.{" "}
                <a
                  href="?"
                  onClick={(e) => {
                    e.preventDefault();
                    setParams({ focus: undefined, sel: undefined });
                  }}
                >
                  All namespaces
                </a>{" "}
                shows them.
              </p>
            )}
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

  // A workload's pods: its current endpoints whose pod name has the
  // workload's aggregated prefix.
  const [pods, setPods] = useState<EndpointInfo[] | null>(null);
  useEffect(() => {
    setPods(null);
    if (target?.kind !== "node" || target.n.kind !== "workload" || !target.n.namespace) return;
    const prefix = target.n.name.replace(/\*$/, "");
    const exact = prefix === target.n.name;
    let live = true;
    endpoints(target.n.namespace)
      .then((r) => live && setPods(r.endpoints.filter((e) => e.kind === "WorkloadEndpoint" && (exact ? e.pod === prefix : (e.pod ?? "").startsWith(prefix)))))
      .catch(() => live && setPods([]));
    return () => {
      live = false;
    };
  }, [target]);

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
      {pods && pods.length > 0 && (
        <>
          <button type="button" className="ghost small-button" onClick={() => navigate(captureLink(pods[0].namespace!, pods[0].labels))}>
            Capture packets
          </button>
          <h3 className="small-title">Pods now</h3>
          <ul className="side-pods" aria-label="Pods">
            {pods.map((p) => (
              <li key={p.name}>
                {p.pod} <span className="muted">on {p.node} · {p.addresses.join(", ") || "no address"}</span>
              </li>
            ))}
          </ul>
        </>
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
