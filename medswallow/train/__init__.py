"""Domain-adaptive training of gpt-oss with TRL: continued pre-training and SFT, LoRA or full, one GPU to many.

Recipes (``cpt.py``, ``sft.py``) are thin linear functions over TRL; the pieces they share live beside them:
``recipe`` (config sections), ``modeling`` (loading), ``peft_targets``, ``data``, ``packing`` (the gpt-oss
packed-mask fix), ``arguments`` and ``callbacks`` (the trainer loop), ``plan`` (tokens, steps, memory),
``export`` (merge, eval hook) and ``runner`` (the order of it all). ``registry`` lists the recipe kinds.
"""
