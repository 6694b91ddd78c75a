# lit configuration of the example plugin's tests. ftc_lit.configure (the
# SDK's, called from lit.site.cfg.py) has set up the tools, %plugin and
# %ftc_examples.
config.name = "ftc-example-plugin"
