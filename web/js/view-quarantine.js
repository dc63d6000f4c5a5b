import { h, fill } from './dom.js';
export async function render(ctx) { fill(ctx.main, h('h1', 'TODO quarantine')); }
export const list = render, detail = render, create = render;
