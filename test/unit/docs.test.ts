/**
 * The documentation stays usable: the README stays a short tutorial (details live in docs/), every relative
 * link and anchor in README.md and docs/*.md resolves, and commands in shell examples are ones a reader can
 * paste (the CLI is `npx switchyard` in a checkout: a bare `switchyard` is not on the PATH).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** "Under ~15 KB": past this, move the new material to a docs/ page and link it. */
const README_MAX_BYTES = 16 * 1024;

const PAGES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The text outside fenced code blocks (with and without inline code spans), and the fenced blocks with their info string. */
function split(markdown: string): { text: string; prose: string; blocks: { lang: string; code: string }[] } {
  const blocks: { lang: string; code: string }[] = [];
  const text = markdown.replace(/^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm, (_all, lang: string, code: string) => {
    blocks.push({ lang: lang.trim(), code });
    return "";
  });
  return { text, prose: text.replace(/`[^`\n]*`/g, ""), blocks };
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  // Headings keep their code spans (GitHub's anchor drops only the backticks).
  for (const match of split(markdown).text.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*$/gm)) {
    const heading = match[1]!.replace(/`/g, "");
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

function linksOf(markdown: string): string[] {
  // Inline code spans are dropped first: a `[x](y)` in code is not a link.
  const { prose } = split(markdown);
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]!);
}

describe("documentation", () => {
  it("keeps the README a short tutorial", () => {
    const size = statSync(join(ROOT, "README.md")).size;
    assert.ok(
      size <= README_MAX_BYTES,
      `README.md is ${size} bytes (at most ${README_MAX_BYTES}): move details to a docs/ page and link it`,
    );
  });

  it("links every docs/ page from the README", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const page of PAGES.filter((page) => page.startsWith("docs/"))) {
      assert.ok(
        linksOf(readme).some((link) => link.split("#")[0] === page),
        `README.md does not link ${page}`,
      );
    }
  });

  for (const page of PAGES) {
    it(`${page}: every relative link and anchor resolves`, () => {
      const text = readFileSync(join(ROOT, page), "utf8");
      const broken: string[] = [];
      for (const link of linksOf(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // http:, https:, mailto:
        const [path = "", anchor] = link.split("#");
        const target = path === "" ? join(ROOT, page) : join(ROOT, dirname(page), path);
        if (!existsSync(target)) {
          broken.push(`${link}: no file ${relative(ROOT, target)}`);
          continue;
        }
        if (anchor !== undefined && target.endsWith(".md") && !anchorsOf(readFileSync(target, "utf8")).has(anchor))
          broken.push(`${link}: no heading #${anchor} in ${relative(ROOT, target)}`);
      }
      assert.deepEqual(broken, [], `${page} has broken links`);
    });

    it(`${page}: shell examples call the CLI as npx switchyard`, () => {
      const bare: string[] = [];
      for (const block of split(readFileSync(join(ROOT, page), "utf8")).blocks) {
        if (!["sh", "bash", "console", "shell"].includes(block.lang)) continue;
        for (const line of block.code.split("\n")) {
          const command = block.lang === "console" ? /^\$ (.*)/.exec(line)?.[1] : line;
          if (command !== undefined && /(^|[;&|]\s*|\$\(\s*)switchyard\s/.test(command.trim())) bare.push(line);
        }
      }
      assert.deepEqual(bare, [], `${page}: \`switchyard\` is not on the PATH; write npx switchyard`);
    });
  }
});
