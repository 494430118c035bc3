/**
 * The widget's style sheet, inside its shadow root: the shop's CSS cannot break it, and it cannot
 * leak into the shop. Everything a merchant may want to change is a CSS custom property (they do
 * cross the shadow boundary), documented in the README; `::part()` names are there for the rest.
 */
export const CSS = `
:host {
  display: block;
  font: var(--lookalike-font, inherit);
  color: var(--lookalike-text, inherit);
  background: var(--lookalike-background, transparent);
}
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.heading {
  font-size: var(--lookalike-heading-size, 1.25rem);
  margin: 0 0 0.75rem;
}
.grid {
  list-style: none;
  margin: 0;
  padding: 0;
  display: grid;
  grid-template-columns: repeat(
    var(--lookalike-columns, auto-fill),
    minmax(min(var(--lookalike-card-min-width, 9rem), 100%), 1fr)
  );
  gap: var(--lookalike-gap, 1rem);
}
.card {
  display: flex;
  flex-direction: column;
  gap: 0.35rem;
  height: 100%;
  padding: 0.5rem;
  border-radius: var(--lookalike-radius, 8px);
  background: var(--lookalike-card-background, transparent);
  color: inherit;
  text-decoration: none;
}
a.card:hover .title { text-decoration: underline; }
a.card:focus-visible {
  outline: 3px solid var(--lookalike-accent, #0b57d0);
  outline-offset: 2px;
}
.image {
  display: block;
  width: 100%;
  height: auto;
  aspect-ratio: var(--lookalike-image-ratio, 3 / 4);
  object-fit: var(--lookalike-image-fit, contain);
  border-radius: calc(var(--lookalike-radius, 8px) / 2);
  background: var(--lookalike-image-background, #f3f3f3);
}
.title { font-size: 0.95em; line-height: 1.3; overflow-wrap: anywhere; }
.price { font-weight: 600; color: var(--lookalike-price-color, inherit); }
.status { margin: 0.5rem 0; color: var(--lookalike-muted, #555); }
.status.error {
  color: var(--lookalike-error, #a50e0e);
  border-left: 3px solid currentColor;
  padding-left: 0.5rem;
}
/* Announced to screen readers, not shown: "Loading…", "8 similar items". */
.status.quiet {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip: rect(0 0 0 0);
  clip-path: inset(50%);
  white-space: nowrap;
}
.dropzone {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 0.5rem 1rem;
  margin-bottom: 1rem;
  padding: 1rem;
  border: 2px dashed var(--lookalike-border, #8a8a8a);
  border-radius: var(--lookalike-radius, 8px);
}
.dropzone.over { border-color: var(--lookalike-accent, #0b57d0); border-style: solid; }
.dropzone label { font-weight: 600; }
.dropzone input { min-width: 12rem; max-width: 100%; font: inherit; }
.dropzone input:focus-visible {
  outline: 3px solid var(--lookalike-accent, #0b57d0);
  outline-offset: 2px;
}
.hint { margin: 0; color: var(--lookalike-muted, #555); }
`;
