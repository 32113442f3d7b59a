"""Intel AMT operations on top of the sans-IO WS-MAN core, the async client and the fleet API.

Operation modules (``power``, ``boot``, ``inventory``, ...) hold pure request builders and reply
decoders plus short async sequences written against :class:`mewarden.amt.session.Session`; only
``client`` touches the network.
"""
