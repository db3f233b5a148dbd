// The scenario worker compat/test_js_sdk.py runs once per session (see serveScenarios).
import { serveScenarios } from "./lib.mjs";

serveScenarios();
