import { useState } from "react";

export function Login({ onLogin, error }: { onLogin: (token: string) => void; error: string }) {
  const [tok, setTok] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <div className="login">
      <form
        className="card login-card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          await onLogin(tok.trim());
          setBusy(false);
        }}
      >
        <h1>Calico console</h1>
        <p className="muted">
          Log in with a Kubernetes Bearer token: a ServiceAccount's (<code>kubectl create token NAME</code>) or your
          kubeconfig's. What you see and change is what your RBAC allows.
        </p>
        <label htmlFor="token">Token</label>
        <textarea
          id="token"
          name="token"
          rows={5}
          value={tok}
          onChange={(e) => setTok(e.target.value)}
          autoFocus
          spellCheck={false}
          required
        />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || tok.trim() === ""}>
          {busy ? "Checking…" : "Log in"}
        </button>
        <p className="muted small">Single sign-on (OIDC) is not supported yet.</p>
      </form>
    </div>
  );
}
