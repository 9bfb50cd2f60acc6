import { useEffect, useState } from "react";
import { ApiError, setToken, token, whoami, type Whoami } from "./api";
import { navigate, ranges, setParams, timeRange, useLocation } from "./route";
import { Login } from "./pages/Login";
import { ServiceGraph } from "./pages/ServiceGraph";
import { Flows } from "./pages/Flows";
import { Dashboard } from "./pages/Dashboard";
import { Endpoints } from "./pages/Endpoints";
import { NetworkSets } from "./pages/NetworkSets";
import { Timeline } from "./pages/Timeline";
import { PolicyBoard } from "./pages/PolicyBoard";
import { Security } from "./pages/Security";
import { Compliance } from "./pages/Compliance";
import { Captures } from "./pages/Captures";

/** The console's pages, in the order of the navigation. */
const pages = [
  { path: "/dashboard", label: "Dashboard", render: (u: Whoami) => <Dashboard me={u} /> },
  { path: "/graph", label: "Service graph", render: (u: Whoami) => <ServiceGraph me={u} /> },
  { path: "/flows", label: "Flows", render: (u: Whoami) => <Flows me={u} /> },
  { path: "/policies", label: "Policies", render: (u: Whoami) => <PolicyBoard me={u} /> },
  { path: "/endpoints", label: "Endpoints", render: (u: Whoami) => <Endpoints me={u} /> },
  { path: "/captures", label: "Captures", render: (u: Whoami) => <Captures me={u} /> },
  { path: "/networksets", label: "Network sets", render: (u: Whoami) => <NetworkSets me={u} /> },
  { path: "/timeline", label: "Timeline", render: (u: Whoami) => <Timeline me={u} /> },
  { path: "/security", label: "Security", render: (u: Whoami) => <Security me={u} /> },
  { path: "/compliance", label: "Compliance", render: (u: Whoami) => <Compliance me={u} /> },
];

type Theme = "light" | "dark";

function initialTheme(): Theme {
  const saved = localStorage.getItem("calico-console-theme");
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function App() {
  const url = useLocation();
  const [me, setMe] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(() => token() !== null);
  const [loginError, setLoginError] = useState<string>("");
  const [theme, setTheme] = useState<Theme>(initialTheme);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("calico-console-theme", theme);
  }, [theme]);

  // A saved token is checked once; any 401 later sends the user back to
  // the login page with the server's reason.
  useEffect(() => {
    if (token() === null) return;
    whoami()
      .then(setMe)
      .catch((e: Error) => {
        setToken(null);
        setLoginError(e.message);
      })
      .finally(() => setChecking(false));
    const onUnauth = (e: Event) => {
      setToken(null);
      setMe(null);
      setLoginError(`Signed out: ${(e as CustomEvent<string>).detail}`);
    };
    window.addEventListener("calico-unauthenticated", onUnauth);
    return () => window.removeEventListener("calico-unauthenticated", onUnauth);
  }, []);

  const login = async (tok: string) => {
    try {
      const u = await whoami(tok);
      setToken(tok);
      setLoginError("");
      setMe(u);
      if (url.pathname === "/" || url.pathname === "/login") navigate("/dashboard" + url.search, true);
    } catch (e) {
      setLoginError(e instanceof ApiError && e.status === 401 ? `Log-in refused: ${e.message}` : String((e as Error).message));
    }
  };

  if (checking) return <div className="splash">Checking your session…</div>;
  if (!me) return <Login onLogin={login} error={loginError} />;

  const page = pages.find((p) => url.pathname.startsWith(p.path));
  if (!page) {
    navigate("/dashboard" + url.search, true);
    return null;
  }
  const tr = timeRange(url);
  return (
    <div className="frame">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Calico</span>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <a
              key={p.path}
              href={p.path + url.search}
              aria-current={p === page ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(p.path + keepRange(url));
              }}
            >
              {p.label}
            </a>
          ))}
        </nav>
        <div className="topbar-right">
          <label className="range">
            <span className="visually-hidden">Time range</span>
            <select value={tr.key} onChange={(e) => setParams({ range: e.target.value })}>
              {Object.entries(ranges).map(([k, r]) => (
                <option key={k} value={k}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="ghost"
            aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
            title={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
            onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
          >
            <span aria-hidden="true">{theme === "dark" ? "☀" : "☾"}</span>
          </button>
          <span className="user" title={`${me.user}\ngroups: ${me.groups.join(", ")}`}>
            {shortUser(me.user)}
          </span>
          <button
            type="button"
            className="ghost"
            onClick={() => {
              setToken(null);
              setMe(null);
              navigate("/login");
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page.render(me)}
      </main>
    </div>
  );
}

/** Only the time range carries over between pages; filters are per page. */
function keepRange(url: URL): string {
  const r = url.searchParams.get("range");
  return r ? `?range=${encodeURIComponent(r)}` : "";
}

/** A ServiceAccount's user name is long; show its name and namespace. */
function shortUser(user: string): string {
  const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(user);
  return m ? `${m[2]} (${m[1]})` : user;
}
