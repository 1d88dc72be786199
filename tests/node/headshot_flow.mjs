// The official magic-hour npm SDK, unmodified, running its headshot flow against the mock.
//
//   node headshot_flow.mjs <base-url> <token> <image-path> <output-dir>
//
// Each argument may instead come from MAGIC_HOUR_BASE_URL, MAGIC_HOUR_TOKEN, MAGIC_HOUR_IMAGE and
// MAGIC_HOUR_OUTPUT_DIR. Only the base URL and the token differ from the SDK's documented usage.
// Prints the project (with downloadedPaths) as one JSON line on stdout; exits 1 with
// {"error": ...} on stdout when the SDK throws. MAGIC_HOUR_POLL_INTERVAL (seconds) is read by the
// SDK itself; MAGIC_HOUR_FLOW_TIMEOUT_MS bounds the whole flow (default 45000).
import { mkdirSync } from "node:fs";
import magicHour from "magic-hour";

// The package is CommonJS compiled from TypeScript: its `Client` is `exports.default`.
const Client = magicHour.default;

const [baseUrl, token, imageFilePath, downloadDirectory] = [
  process.argv[2] ?? process.env.MAGIC_HOUR_BASE_URL,
  process.argv[3] ?? process.env.MAGIC_HOUR_TOKEN,
  process.argv[4] ?? process.env.MAGIC_HOUR_IMAGE,
  process.argv[5] ?? process.env.MAGIC_HOUR_OUTPUT_DIR,
];
if (!baseUrl || !token || !imageFilePath || !downloadDirectory) {
  console.error("usage: node headshot_flow.mjs <base-url> <token> <image-path> <output-dir>");
  process.exit(2);
}
const limitMs = Number(process.env.MAGIC_HOUR_FLOW_TIMEOUT_MS ?? "45000");
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: `the flow did not finish within ${limitMs} ms` }));
  process.exit(3); // the SDK polls without a limit of its own
}, limitMs);

mkdirSync(downloadDirectory, { recursive: true });
const client = new Client({ token, baseUrl });
try {
  const result = await client.v1.aiHeadshotGenerator.generate(
    { assets: { imageFilePath } },
    { waitForCompletion: true, downloadOutputs: true, downloadDirectory },
  );
  console.log(JSON.stringify(result));
} catch (error) {
  const detail = { error: String(error?.message ?? error), name: error?.name };
  if (error?.statusCode !== undefined) detail.statusCode = error.statusCode;
  console.log(JSON.stringify(detail));
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
}
