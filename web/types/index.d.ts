// Types of @mips-profiles/score-card. The API's documents are generated from openapi.yaml into ./api.d.ts
// (openapi-typescript, `npm run types`); this file declares the element and the functions by hand.
import type { components } from "./api.js";  // the extension: NodeNext and Node16 resolve ES imports only with it

/** One per-NPI document of the static API (`v1/npi/{npi}.json`). */
export type ProfileDocument = components["schemas"]["ProfileDocument"];
/** One performance year of a profile document (`latest`, each `history` item). */
export type ProfileEntry = components["schemas"]["ProfileEntry"];
/** `v1/manifest.json`: what is published, per performance year. */
export type Manifest = components["schemas"]["Manifest"];

/** What a card shows once settled. */
export type CardResult = "scored" | "not_scored" | "not_found" | "unavailable" | "misconfigured";

/** `detail` of the `mips-score-card:state` event. */
export interface CardStateDetail {
  state: "loading" | "ready" | "unavailable" | "misconfigured";
  /** Set when ready ("unavailable" or "misconfigured" likewise); null while loading. */
  result: CardResult | null;
  npi: string;
}

export interface RenderOptions {
  npi?: string;
  /** Show this performance year's entry instead of the newest. */
  performanceYear?: number | string;
  /** The API's base URL: https (http only to loopback). */
  baseUrl?: string;
  timeoutMs?: number;
}

/** `<mips-score-card npi="..." performance-year="..." base-url="..." timeout-ms="...">` */
export declare class MipsScoreCardElement extends HTMLElement {
  static readonly observedAttributes: readonly ["npi", "performance-year", "base-url", "timeout-ms"];
  /** The newest render's result. */
  ready?: Promise<CardResult | "superseded" | "disconnected">;
}

export declare const version: string;
/** Render into any element (a shadow root is attached); never rejects. */
export declare function render(host: HTMLElement, options?: RenderOptions): Promise<CardResult | "superseded">;
/** Render every `[data-mips-npi]` element under `scope` (version 1's markup). */
export declare function renderAll(scope?: ParentNode): Promise<Array<CardResult | "superseded">>;
/** Register `<mips-score-card>` (done on import; for a scoped registry). */
export declare function define(registry?: CustomElementRegistry): void;

declare global {
  interface HTMLElementTagNameMap {
    "mips-score-card": MipsScoreCardElement;
  }
  interface HTMLElementEventMap {
    "mips-score-card:state": CustomEvent<CardStateDetail>;
  }
}
