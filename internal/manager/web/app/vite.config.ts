import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The bundle goes to ../dist, which the Go package web embeds.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "../dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
});
