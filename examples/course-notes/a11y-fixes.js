// Two fixes to mdBook 0.5's page template for screen readers (axe-core flags them): the
// sidebar toggle is a <label> that carries aria-label and aria-expanded, which only a button
// may; it is one, so it says so.
document.getElementById('mdbook-sidebar-toggle')?.setAttribute('role', 'button');
