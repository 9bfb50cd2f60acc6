import { useEffect, useState } from "react";

// The console's state lives in its URL: the page is the path, filters and
// the time range are query parameters, so any view can be bookmarked and
// shared.

export function useLocation(): URL {
  const [url, setUrl] = useState(() => new URL(window.location.href));
  useEffect(() => {
    const update = () => setUrl(new URL(window.location.href));
    window.addEventListener("popstate", update);
    window.addEventListener("calico-navigate", update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("calico-navigate", update);
    };
  }, []);
  return url;
}

export function navigate(to: string, replace = false) {
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event("calico-navigate"));
}

/** Sets (or, for "" and undefined, removes) query parameters of the current URL. */
export function setParams(params: Record<string, string | number | undefined>, replace = false) {
  const u = new URL(window.location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === "") u.searchParams.delete(k);
    else u.searchParams.set(k, String(v));
  }
  navigate(u.pathname + u.search, replace);
}

/** Time ranges the picker offers, by their URL value. */
export const ranges: Record<string, { label: string; ms: number }> = {
  "15m": { label: "Last 15 minutes", ms: 15 * 60e3 },
  "1h": { label: "Last hour", ms: 60 * 60e3 },
  "6h": { label: "Last 6 hours", ms: 6 * 60 * 60e3 },
  "24h": { label: "Last 24 hours", ms: 24 * 60 * 60e3 },
  "7d": { label: "Last 7 days", ms: 7 * 24 * 60 * 60e3 },
};

export function timeRange(url: URL): { key: string; from: string; to: string } {
  const key = url.searchParams.get("range") ?? "1h";
  const r = ranges[key] ?? ranges["1h"];
  const to = new Date();
  return { key: ranges[key] ? key : "1h", from: new Date(to.getTime() - r.ms).toISOString(), to: to.toISOString() };
}
