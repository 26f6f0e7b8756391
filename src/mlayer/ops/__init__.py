"""One module per command's operations, each called once by its click command.

``deps`` (build-deps), ``model`` (publish-model and its gate), ``deploy``
(deploy and rollback: snapshot -> plan -> executor), ``inspect`` (status,
versions, iam-policy: read only), ``cleanup`` (old model layer versions),
``invoke`` (invoke --local and cost --measure), ``cost`` (the cost table).
Shared by several: ``layers`` (publishing a layer zip) and ``code`` (the
function's code). An operation takes ``Settings`` and an ``Aws`` and returns
a value for ``cli`` to render; it prints nothing itself (progress goes
through the callbacks it is given).
"""
